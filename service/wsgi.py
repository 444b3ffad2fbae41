"""WSGI entry point: gunicorn imports this in each worker, after the fork."""

from service.app import create_app

app = create_app()
