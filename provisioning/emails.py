"""Emails to a member's personal address: settings after a creation, a notice after a reset.

They never hold the password: it only travels by SMS.
"""

import logging
import smtplib
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .exceptions import PermanentError, TransientError

logger = logging.getLogger(__name__)


def _context(mailbox) -> dict:
    domain = mailbox.domain
    return {
        "address": mailbox.address,
        "mailbox": mailbox,
        "member": mailbox.member,
        "domain": domain,
        "masked_phone": mailbox.member.masked_phone,
        "contact": domain.contact_email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
    }


def build_member_email(*, kind: str, mailbox) -> EmailMultiAlternatives:
    context = _context(mailbox)
    subject = render_to_string(f"emails/{kind}_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"emails/{kind}_body.txt", context),
        to=[mailbox.member.personal_email],
    )
    message.attach_alternative(render_to_string(f"emails/{kind}_body.html", context), "text/html")
    return message


def send_member_email(*, kind: str, mailbox) -> None:
    message = build_member_email(kind=kind, mailbox=mailbox)
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError(
            f"Le serveur d'envoi refuse l'adresse personnelle {mailbox.member.personal_email}."
        ) from None
    except smtplib.SMTPAuthenticationError:
        raise PermanentError("Le serveur d'envoi refuse nos identifiants (EMAIL_URL).") from None
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("email to member not sent: %s", type(exc).__name__)
        raise TransientError(
            "Le serveur d'envoi des emails ne répond pas ; nouvel essai automatique."
        ) from None
