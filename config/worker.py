"""The Celery worker's entry point: `celery -A config.worker worker`. Installs the services, then exposes the app."""

from config.wiring import install
from workers.celery_app import app

install()

__all__ = ["app"]
