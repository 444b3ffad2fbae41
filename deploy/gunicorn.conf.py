"""gunicorn settings, read from the TWINNING_* environment (validated: a wrong value stops the
start with one line). The application is built in each worker after the fork (no preload), so
every worker opens its own database pools."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from service.config import ConfigError, Settings

try:
    _settings = Settings.from_env()
except ConfigError as error:
    print(f"twinning: configuration error: {error}", file=sys.stderr)
    sys.exit(2)

bind = _settings.bind
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
preload_app = False
timeout = _settings.timeout
# On SIGTERM a worker finishes the requests it has (up to this long) before it exits.
graceful_timeout = _settings.graceful_timeout
keepalive = 5
max_requests = _settings.max_requests
max_requests_jitter = 50 if max_requests else 0
# The application logs every request as JSON (method, route, status, duration, request id,
# actor); gunicorn's own access log is off unless TWINNING_ACCESS_LOG names a file or "-".
accesslog = _settings.access_log or None
# Builds an access log line only when the gunicorn.access logger will write it.
logger_class = "service.infrastructure.observability.GunicornLogger"
errorlog = "-"
loglevel = _settings.log_level.lower()
limit_request_line = 8190
# No control socket: it lives in $HOME, shared by every gunicorn of the user (and read-only
# in a hardened container); signals do the same job.
control_socket_disable = True
if _settings.log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.infrastructure.observability.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": _settings.log_level.upper()},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {
                "handlers": ["stderr"],
                "level": "INFO" if accesslog else "CRITICAL",
                "propagate": False,
            },
        },
    }

# Metrics: every worker writes its counters to files here, any worker sums them on /metrics.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_metrics_dir = not _metrics_dir
if not _metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="twinning-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    """Counters start from zero with the master: clear what an earlier run left."""
    folder = Path(_metrics_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def post_worker_init(worker):
    """Open the database in the worker before it takes requests. A worker that starts
    while the database is unreachable (one replacing a worker that died during an outage)
    starts all the same: gunicorn stops the whole server when a worker fails to boot. Its
    first requests then open the database, answered 503 until they can."""
    from service.api.errors import UNAVAILABLE
    from service.infrastructure.runtime import runtime

    try:
        runtime(worker.wsgi)
    except UNAVAILABLE as error:
        worker.log.warning(
            "The database is not reachable at this worker's start (%s); it is opened on "
            "the first request.",
            type(error).__name__,
        )


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """A metrics folder this configuration made for itself goes with the master."""
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
