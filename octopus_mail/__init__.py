"""octopus-mail: the Django project (settings, urls, Celery app, admin site)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
