"""PGx dose-guidance service: `service:create_app` is the WSGI application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    from service.app import build_app

    return build_app(config)


__all__ = ["create_app"]
