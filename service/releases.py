"""Knowledge releases held in memory per worker (placeholder until the release store lands)."""

from flask import Flask


def current_knowledge(raise_if_missing: bool = True):
    return None


def init_app(app: Flask) -> None:
    return None
