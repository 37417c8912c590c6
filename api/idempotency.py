"""`Idempotency-Key`: a retried POST gets the first answer, never a second mailbox or SMS.

The answer is kept in the transaction of the act itself: the key's row is inserted first,
so a concurrent retry waits on the unique index until the first commits, then reads the
kept answer; a crash rolls back both. Only successes are kept (bad input writes nothing):
after a refusal the same key may be tried again. Kept answers live IDEMPOTENCY_TTL.
"""

import hashlib
import json
from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.response import Response

from provisioning.exceptions import ProvisioningError

from .models import ApiToken, IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_MAX = IdempotencyRecord._meta.get_field("key").max_length
IDEMPOTENCY_TTL = timedelta(hours=24)
REFUSALS = (DjangoValidationError, exceptions.APIException, ProvisioningError)

PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description=f"Up to {KEY_MAX} printable ASCII characters (a UUID): a retry with the same "
    "key and body gets the first answer again, marked `Idempotent-Replayed: true`.",
)


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        f"Cette valeur d'{HEADER} a déjà servi pour une autre requête (autre adresse ou autre "
        "corps) : prenez une nouvelle clé pour chaque nouvelle demande."
    )
    default_code = "idempotency_key_reused"


def run_once(request, token: ApiToken, act) -> Response:
    """`act()`'s answer, or the one kept for this token and key."""
    key = request.headers.get(HEADER)
    if key is None:
        return act()
    _check(key)
    fingerprint = _fingerprint(request)
    refusal = None
    # Apart from the transaction below: it would hold the expired rows' locks, and another
    # key's request would wait for it.
    IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL).delete()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    token=token, key=key, fingerprint=fingerprint
                )
        except IntegrityError:  # the first request committed: its answer is here
            return _replay(IdempotencyRecord.objects.get(token=token, key=key), fingerprint)
        try:
            response = act()
        except REFUSALS as exc:
            record.delete()  # nothing kept; the use case's audit record of the refusal stays
            refusal = exc
        else:
            record.status, record.body = response.status_code, response.data
            record.location = response.get("Location", "")
            record.save(update_fields=["status", "body", "location"])
    if refusal is not None:
        raise refusal
    return response


def _check(key: str) -> None:
    if not key or len(key) > KEY_MAX or not all(" " <= c <= "~" for c in key):
        raise exceptions.ValidationError(
            {HEADER: [f"De 1 à {KEY_MAX} caractères ASCII imprimables (un UUID, par exemple)."]}
        )


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method}\0{request.path}\0{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise KeyReused()
    headers = {"Idempotent-Replayed": "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, status=record.status, headers=headers)
