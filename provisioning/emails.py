"""Emails to a member's personal address: settings after a creation, a notice after a reset.

They never hold the password: it only travels by SMS.
"""

import logging
import smtplib
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.autoconfig import mobileconfig_url

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
        "mobileconfig_url": mobileconfig_url(mailbox),
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
    send(build_member_email(kind=kind, mailbox=mailbox))


def send(message: EmailMessage) -> None:
    """Send one message; SMTP's failures as PermanentError or TransientError, in French."""
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError(
            f"Le serveur d'envoi refuse l'adresse {', '.join(message.to)}."
        ) from None
    except smtplib.SMTPAuthenticationError:
        raise PermanentError("Le serveur d'envoi refuse nos identifiants (EMAIL_URL).") from None
    except (smtplib.SMTPException, OSError) as exc:  # timeouts and refusals are OSErrors
        logger.warning("email not sent: %s", type(exc).__name__)
        raise TransientError(
            "Le serveur d'envoi des emails ne répond pas ; nouvel essai automatique."
        ) from None


def staff_addresses() -> list[str]:
    """The administrators who receive alerts: active staff users with an email address."""
    return list(
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def send_to_staff(*, template: str, context: dict) -> bool:
    """Render `emails/<template>_subject.txt` and `_body.txt` for the administrators;
    False when none has an email address."""
    recipients = staff_addresses()
    if not recipients:
        return False
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    send(
        EmailMessage(
            subject=" ".join(subject.split()),
            body=render_to_string(f"emails/{template}_body.txt", context),
            to=recipients,
        )
    )
    return True


def send_member_change_notice(*, member, old: dict, new: dict, to: list[str]) -> None:
    """Tell a member their phone or personal email changed (sent before the change is saved).

    Phones appear masked, as in every email; the password never appears.
    """
    mailboxes = list(member.mailboxes.select_related("domain"))
    contacts = [m.domain.contact_email for m in mailboxes if m.domain.contact_email]
    context = {
        "member": member,
        "addresses": [mailbox.address for mailbox in mailboxes],
        "old_phone": _masked(old.get("phone")),
        "new_phone": _masked(new.get("phone")),
        "old_email": old.get("personal_email"),
        "new_email": new.get("personal_email"),
        "contact": contacts[0] if contacts else parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
    }
    subject = render_to_string("emails/member_changed_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("emails/member_changed_body.txt", context),
        to=to,
    )
    html = render_to_string("emails/member_changed_body.html", context)
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError(f"le serveur d'envoi refuse l'adresse {', '.join(to)}") from None
    except smtplib.SMTPAuthenticationError:
        raise PermanentError("le serveur d'envoi refuse nos identifiants (EMAIL_URL)") from None
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("member notice not sent: %s", type(exc).__name__)
        raise TransientError("le serveur d'envoi des emails ne répond pas") from None


def _masked(phone) -> str | None:
    if not phone:
        return None
    from accounts.models import Member  # the gateway needs only the masking rule

    return Member(phone=phone).masked_phone
