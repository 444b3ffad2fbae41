"""gunicorn settings: workers and threads from the environment; the app is built per worker."""

import os

bind = os.environ.get("TWINNING_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("TWINNING_WORKERS", "2"))
threads = int(os.environ.get("TWINNING_THREADS", "4"))
worker_class = "gthread"
# No preload: each worker opens its own database pools after the fork.
preload_app = False
timeout = int(os.environ.get("TWINNING_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("TWINNING_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = int(os.environ.get("TWINNING_MAX_REQUESTS", "0"))
max_requests_jitter = 50 if max_requests else 0
accesslog = os.environ.get("TWINNING_ACCESS_LOG", "-") or None
errorlog = "-"
limit_request_line = 8190


def post_worker_init(worker):
    """Open the database in the worker before it takes requests."""
    from service.http import runtime

    runtime(worker.wsgi)
