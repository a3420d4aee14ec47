"""Stable entry point: `gunicorn 'bot.app:create_app()'` (the contract's WSGI factory).

The service lives in `bot.service`; this alias keeps the documented path working.
"""

from bot.service.app import create_app

__all__ = ["create_app"]
