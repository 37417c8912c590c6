"""Twilio's status callback: signed form posts that move an SMS's status forward."""

import re

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from . import steps
from .models import KNOWN_SMS_STATUSES

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")


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


@csrf_exempt
@require_POST
def twilio_status(request):
    if not signed_by_twilio(request):
        return HttpResponseForbidden("Signature Twilio absente ou invalide.\n")
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    code = request.POST.get("ErrorCode", "")
    if not MESSAGE_SID.match(sid):
        return HttpResponseBadRequest("MessageSid absent ou mal formé.\n")
    if status not in KNOWN_SMS_STATUSES:
        return HttpResponseBadRequest(f"Statut inconnu : {status[:40]!r}.\n")
    if code and not code.isdigit():
        return HttpResponseBadRequest("ErrorCode doit être un nombre.\n")
    steps.sms_status_record(message_sid=sid, status=status, error_code=int(code) if code else None)
    return HttpResponse(status=204)
