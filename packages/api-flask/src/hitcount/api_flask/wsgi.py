"""The WSGI entry point gunicorn loads in each worker: ``hitcount.api_flask.wsgi:app``."""

from hitcount.api_flask.app import create_app
from hitcount.api_flask.settings import process_settings

app = create_app(settings=process_settings())
