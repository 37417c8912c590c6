"""Emails about a request: the confirmation link, the refusal, the administrators' notice.

Gateway to SMTP, like provisioning.emails: failures become TransientError or PermanentError.
"""

import logging
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

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


def _render(template: str, context: dict, *, to: list[str], html: bool) -> EmailMultiAlternatives:
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # a name cannot smuggle a header line
        body=render_to_string(f"emails/{template}_body.txt", context),
        to=to,
    )
    if html:
        message.attach_alternative(
            render_to_string(f"emails/{template}_body.html", context), "text/html"
        )
    return message


def build_confirmation_email(*, member_request, link: str, hours: int) -> EmailMultiAlternatives:
    context = _context(member_request, link=link, hours=hours)
    return _render("request_confirm", context, to=[member_request.member_email], html=True)


def build_refusal_email(*, member_request) -> EmailMultiAlternatives:
    context = _context(member_request, reason=member_request.refusal_reason)
    return _render("request_refused", context, to=[member_request.member_email], html=True)


def build_arrival_email(*, member_request, recipients: list[str]) -> EmailMultiAlternatives:
    url = settings.PUBLIC_BASE_URL + reverse("admin:memberrequests_memberrequest_changelist")
    context = _context(member_request, url=url)
    return _render("request_arrived", context, to=recipients, html=False)


