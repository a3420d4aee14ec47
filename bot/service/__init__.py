"""The webhook service: Flask app and intake, settings, runtime, background work
(in-process or RQ), poller, leases, metrics, logging, gunicorn."""
