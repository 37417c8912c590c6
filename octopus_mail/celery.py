"""The Celery application; configuration comes from Django settings prefixed CELERY_."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "octopus_mail.settings")

app = Celery("octopus_mail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_a_broken_configuration(**kwargs):
    """A worker runs Django's checks, the mail table's included, and stops on an error."""
    from django.core.checks import run_checks

    errors = [m for m in run_checks(databases=["mailserver"]) if m.is_serious()]
    if errors:
        raise SystemExit("Configuration errors:\n" + "\n".join(str(error) for error in errors))
