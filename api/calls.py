"""One audit record per API call, with the token's name as actor (invariant 8).

A call that reaches a use case is recorded by the use case itself (refusals included); the
others (reads, replays, refusals before any use case) get an `api_call` record here. A call
without a known token gets none: there is nobody to name, and a stranger's requests must
write nothing (they are logged).
"""

from rest_framework import exceptions

from audit.models import Action, Outcome
from audit.services import Actor, audit_record
from octopus_mail.security import client_ip


def mark_recorded(request) -> None:
    request._request.api_act_recorded = True


def record(request, response, *, target: str = "") -> None:
    if getattr(request._request, "api_act_recorded", False):
        return
    token = _token(request)
    if token is None:
        return
    detail = f"{request.method} {request.path} → {response.status_code}"
    if response.get("Idempotent-Replayed"):
        detail += " (réponse rejouée, Idempotency-Key)"
    elif response.status_code >= 400 and isinstance(response.data, dict):
        detail += f" : {response.data.get('detail', '')}"
    audit_record(
        actor=Actor(label=token.actor_label, ip=client_ip(request)),
        action=Action.API_CALL,
        target=target,
        outcome=Outcome.SUCCESS if response.status_code < 400 else Outcome.REFUSED,
        detail=detail,
    )


def _token(request):
    try:
        token = request.auth
    except exceptions.APIException:  # authentication had not run (a 406 comes before it)
        token = None
    return token or getattr(request._request, "api_refused_token", None)
