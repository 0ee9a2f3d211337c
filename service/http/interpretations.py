"""Placeholder: filled in by its owner (see service/app.py COMPONENTS)."""

from flask import Flask


def init_app(app: Flask) -> None:
    return None
