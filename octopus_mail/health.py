"""/healthz: whether the app database, the mail-server database and the broker answer.

It names each part and says ok or what failed (the error's kind, never a URL or a secret),
with 200 when all answer and 503 otherwise, for Docker's and a monitor's health checks.
"""

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app

BROKER_TIMEOUT = 2  # seconds


def _database(alias: str) -> str:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "ok: none, jobs run in-process"
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", and says so
        return f"error: {type(exc).__name__}"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    checks = {
        "database": _database("default"),
        "mailserver_database": _database("mailserver"),
        "broker": _broker(),
    }
    healthy = all(value.startswith("ok") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
