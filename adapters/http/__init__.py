"""The HTTP entry point: a Starlette app with the invocation endpoint and the run API."""

from .app import create_app

__all__ = ["create_app"]
