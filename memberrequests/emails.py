"""Emails about a request: the confirmation link, the refusal, the administrators' notice.

They build each email's context; provisioning.emails renders and sends it.
"""

import logging
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from provisioning import emails

logger = logging.getLogger(__name__)


def _context(member_request, **extra) -> dict:
    domain_contact = member_request.domain.contact_email if member_request.domain_id else ""
    return {
        "request": member_request,
        "address": member_request.address,
        "name": member_request.member_name,
        "contact": domain_contact or parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        **extra,
    }


def build_confirmation_email(*, member_request, link: str, hours: int) -> EmailMessage:
    context = _context(member_request, link=link, hours=hours)
    return emails.render("request_confirm", context, to=[member_request.member_email], html=True)


def build_refusal_email(*, member_request) -> EmailMessage:
    context = _context(member_request, reason=member_request.refusal_reason)
    return emails.render("request_refused", context, to=[member_request.member_email], html=True)


def build_arrival_email(*, member_request, recipients: list[str]) -> EmailMessage:
    url = settings.PUBLIC_BASE_URL + reverse("admin:memberrequests_memberrequest_changelist")
    context = _context(member_request, url=url)
    return emails.render("request_arrived", context, to=recipients, html=False)
