"""Stable path for `gunicorn -c python:bot.gunicorn_conf 'bot.app:create_app()'`.

The settings live in `bot.service.gunicorn_conf`; gunicorn reads them from this module's
globals, so they are re-exported here.
"""

from bot.service.gunicorn_conf import *  # noqa: F403
