"""A durable flight-booking chat: `steplane dev examples.agent_chat`, then open
http://127.0.0.1:8787/chat (the agent: flights.py; the page's routes: app.py)."""

from .app import http_routes
from .flights import chat, durable

__all__ = ["chat", "durable", "http_routes"]
