"""The WSGI entry point gunicorn loads in each worker: ``hitcount.api_flask.wsgi:app``."""

from hitcount.api_flask.app import create_app

app = create_app()
