"""Sends SMS through Twilio's official client, with an explicit timeout and mapped errors."""

import logging
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..exceptions import PermanentError, TransientError
from .base import BaseSmsBackend, SentSms, mask_phone

logger = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"

# Twilio error codes an administrator may meet, explained in French.
ERROR_MESSAGES = {
    20003: "identifiants Twilio refusés (vérifiez TWILIO_ACCOUNT_SID et TWILIO_AUTH_TOKEN)",
    21211: "numéro invalide",
    21602: "le texte du SMS est vide",
    21603: "aucun expéditeur configuré (TWILIO_FROM ou TWILIO_MESSAGING_SERVICE_SID)",
    21604: "aucun destinataire : le numéro du membre est vide",
    21408: "envoi de SMS vers ce pays non autorisé dans le compte Twilio",
    21606: "l'expéditeur TWILIO_FROM ne peut pas envoyer de SMS",
    21610: "le destinataire a refusé les SMS de cet expéditeur (STOP)",
    21612: "ce numéro ne peut pas être joint depuis l'expéditeur configuré",
    21614: "ce numéro n'est pas un numéro de GSM",
    30003: "numéro injoignable (téléphone éteint ou hors réseau)",
    30005: "numéro inconnu ou qui n'existe plus",
    30006: "numéro fixe ou opérateur qui ne reçoit pas de SMS",
    30007: "message filtré par l'opérateur",
    30008: "erreur inconnue chez l'opérateur",
}


def explain(code: int | None) -> str:
    return ERROR_MESSAGES.get(code or 0, f"erreur Twilio {code}")


def status_callback_url() -> str:
    """Where Twilio posts the message's statuses: the app's public address."""
    return settings.PUBLIC_BASE_URL + reverse("twilio-status")


class BaseUrlHttpClient(TwilioHttpClient):
    """Points the real client at TWILIO_API_BASE_URL (a compatible endpoint or a test double)."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        # TWILIO_EDGE or TWILIO_REGION in the environment turn api.twilio.com into hosts such
        # as api.dublin.ie1.twilio.com: rewrite every Twilio host, or the base URL is ignored.
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
            url = self.base_url + url[len(f"{parts.scheme}://{parts.netloc}") :]
        return super().request(method, url, *args, **kwargs)


class SmsBackend(BaseSmsBackend):
    # One client per process: its HTTP session keeps the connections to Twilio open, and
    # requests' pool holds 10 a host (SMS_CONCURRENCY stays below).
    shared = True

    def __init__(self):
        timeout = settings.SMS_TIMEOUT
        if settings.TWILIO_API_BASE_URL:
            http_client = BaseUrlHttpClient(settings.TWILIO_API_BASE_URL, timeout=timeout)
        else:
            http_client = TwilioHttpClient(timeout=timeout)
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
        )

    def _sender(self) -> dict:
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            return {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
        return {"from_": settings.TWILIO_FROM}

    def send(self, *, to: str, body: str) -> SentSms:
        with self._errors("send"):
            message = self.client.messages.create(
                to=to, body=body, status_callback=status_callback_url(), **self._sender()
            )
        logger.info("SMS accepted by Twilio: %s to %s", message.sid, mask_phone(to))
        return SentSms(message_id=message.sid, status=message.status or "queued")

    def redact(self, *, message_id: str) -> None:
        """Twilio keeps message bodies in its log: an empty body erases the text."""
        with self._errors("redact"):
            self.client.messages(message_id).update(body="")
        logger.info("SMS %s: body redacted at Twilio", message_id)

    @contextmanager
    def _errors(self, action: str):
        """Twilio's failures as TransientError or PermanentError, with French messages."""
        try:
            yield
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._map_rest_error(exc) from None
        except requests.Timeout:
            # When sending, the outcome is unknown: the retry makes a new password (hash
            # first) and never resends this body.
            raise TransientError(
                "Twilio n'a pas répondu à temps ; nouvel essai automatique."
            ) from None
        except requests.RequestException as exc:
            logger.warning("Twilio unreachable (%s): %s", action, type(exc).__name__)
            raise TransientError("Twilio est injoignable ; nouvel essai automatique.") from None
        except ValueError:
            # Not JSON (an HTML error page from a proxy, say): as unknown as a timeout.
            logger.warning("Twilio answered something that is not JSON (%s)", action)
            raise TransientError(
                "Twilio a répondu de façon illisible ; nouvel essai automatique."
            ) from None
        except TwilioException as exc:
            logger.error("Twilio client misconfigured: %s", exc)
            raise PermanentError(
                "Configuration Twilio incomplète (identifiants ou expéditeur)."
            ) from None

    @staticmethod
    def _map_rest_error(exc: TwilioRestException) -> Exception:
        logger.warning("Twilio refused a message: HTTP %s, code %s", exc.status, exc.code)
        if exc.status == 429 or exc.status >= 500:
            return TransientError(
                f"Twilio est momentanément indisponible (HTTP {exc.status}) ; "
                "nouvel essai automatique."
            )
        return PermanentError(f"SMS refusé par Twilio : {explain(exc.code)} ({exc.code}).")
