"""Gateway to SMTP: render an email's templates and send it, nothing more.

Callers build the context (the worker's step for a member's email, accounts' services for a
change notice) and pass plain values; SMTP's failures come back as PermanentError or
TransientError, in French. No email ever holds a password: it only travels by SMS.
"""

import logging
import smtplib
from contextlib import contextmanager

from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from .exceptions import PermanentError, TransientError

logger = logging.getLogger(__name__)


def render(template: str, context: dict, *, to: list[str], html: bool = True) -> EmailMessage:
    """`emails/<template>_subject.txt`, `_body.txt` and, with `html`, `_body.html`."""
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


def send_rendered(*, template: str, context: dict, to: list[str], html: bool = True) -> None:
    send(render(template, context, to=to, html=html))


def send(message: EmailMessage) -> None:
    """Send one message; SMTP's failures as PermanentError or TransientError, in French."""
    with _smtp_errors(message):
        message.send()


def send_many(messages: dict) -> dict:
    """{key: message} over one SMTP connection; {key: None when sent, or the TransientError
    or PermanentError of that message}. A server that cannot be reached fails them all
    transiently."""
    connection = get_connection()
    try:
        with _smtp_errors(None):
            connection.open()
    except (TransientError, PermanentError) as exc:
        return dict.fromkeys(messages, exc)
    outcomes = {}
    try:
        for key, message in messages.items():
            message.connection = connection
            try:
                with _smtp_errors(message):
                    message.send()
                outcomes[key] = None
            except (TransientError, PermanentError) as exc:
                outcomes[key] = exc
    finally:
        connection.close()
    return outcomes


@contextmanager
def _smtp_errors(message: EmailMessage | None):
    try:
        yield
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError(
            f"Le serveur d'envoi refuse l'adresse {', '.join(message.to if message else [])}."
        ) from None
    except smtplib.SMTPAuthenticationError:
        raise PermanentError("Le serveur d'envoi refuse nos identifiants (EMAIL_URL).") from None
    except (smtplib.SMTPException, OSError) as exc:  # timeouts and refusals are OSErrors
        logger.warning("email not sent: %s", type(exc).__name__)
        raise TransientError(
            "Le serveur d'envoi des emails ne répond pas ; nouvel essai automatique."
        ) from None
