"""deploy/gunicorn.conf.py as it is (workers, threads, worker class, timeouts, keep-alive,
logging), for the hello-world yardstick: only the hook that opens the service's database in
each worker is left out, since the yardstick has none."""

from pathlib import Path

exec((Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py").read_text())


def post_worker_init(worker):
    pass
