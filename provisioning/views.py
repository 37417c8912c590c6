"""Twilio's status callback: signed form posts that move an SMS's status forward.

Whatever is posted, the answer is a 4xx or a 204, never a 500: the body and its number of
fields are bounded before they are read, and every value kept is checked against what its
column holds.
"""

import re

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from . import steps
from .models import KNOWN_SMS_STATUSES

MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
# Twilio's error codes have five digits; nine always fit the PositiveIntegerField.
ERROR_CODE = re.compile(r"[0-9]{1,9}")
MAX_BODY = 16 * 1024  # bytes: a status callback is well under one
MAX_FIELDS = 50  # Twilio sends about fifteen


def signed_by_twilio(request) -> bool:
    """Twilio signs the URL it called (rebuilt from PUBLIC_BASE_URL, as a proxy may rewrite
    the host and scheme) and the form's fields, with the account's auth token."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        url, request.POST.dict(), signature
    )


def oversized(request) -> str | None:
    """Why the post is too big to read, in French; None when it is not."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0  # Django reads no body then
    if length > MAX_BODY:
        return f"Requête trop longue : {MAX_BODY} octets au maximum.\n"
    if sum(len(values) for _name, values in request.POST.lists()) > MAX_FIELDS:
        return f"Trop de champs : {MAX_FIELDS} au maximum.\n"
    return None


def field_problem(sid: str, status: str, code: str) -> str | None:
    if not MESSAGE_SID.fullmatch(sid):
        return "MessageSid absent ou mal formé.\n"
    if status not in KNOWN_SMS_STATUSES:
        return f"Statut inconnu : {status[:40]!r}.\n"
    if code and not ERROR_CODE.fullmatch(code):
        return "ErrorCode doit être un nombre de 9 chiffres au plus.\n"
    return None


@csrf_exempt
@require_POST
def twilio_status(request):
    problem = oversized(request)
    if problem:
        return HttpResponseBadRequest(problem)
    if not signed_by_twilio(request):
        return HttpResponseForbidden("Signature Twilio absente ou invalide.\n")
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    code = request.POST.get("ErrorCode", "")
    problem = field_problem(sid, status, code)
    if problem:
        return HttpResponseBadRequest(problem)
    steps.sms_status_record(message_sid=sid, status=status, error_code=int(code) if code else None)
    return HttpResponse(status=204)
