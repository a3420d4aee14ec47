"""gunicorn settings for running the service with plain gunicorn instead of `serve`:

    gunicorn -c python:bot.gunicorn_conf -b 0.0.0.0:8000 'bot.app:create_app()'

The same worker settings and hooks as `devin-bridge serve`: each worker starts its
in-process worker after fork (one of them at a time holds the leader lease). Without
this config, plain gunicorn serves the webhook only; then run `devin-bridge worker`.
"""

from bot.service.gunicorn_app import gunicorn_options, post_worker_init_hook, worker_exit_hook

_options = gunicorn_options("127.0.0.1", 8000, 2)

worker_class = _options["worker_class"]
threads = _options["threads"]
timeout = _options["timeout"]
graceful_timeout = _options["graceful_timeout"]
keepalive = _options["keepalive"]
max_requests = _options["max_requests"]
max_requests_jitter = _options["max_requests_jitter"]
post_worker_init = post_worker_init_hook
worker_exit = worker_exit_hook
