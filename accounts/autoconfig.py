"""Client autoconfiguration: Thunderbird's autoconfig, Outlook's autodiscover, Apple's profile.

Every value comes from the `Domain` of the address asked about, never from the request's
Host header (anyone can send any Host). Thunderbird and Outlook get the same answer for
every local part of a known domain, so they cannot be used to learn who is a member.
"""

import plistlib
import uuid
import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from memberrequests.throttle import HOUR, throttle_allows
from octopus_mail.security import client_ip

from .models import Domain, Mailbox, Security
from .validators import without_invisible_characters

AUTODISCOVER_REQUEST = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
)
MAX_AUTODISCOVER_BODY = 10_000  # bytes: a real request is about 400
# (posts, seconds) per client IP. Outlook asks once or twice when an account is set up: an
# office of members behind one address stays far below. Every post counts, readable or not.
AUTODISCOVER_PER_IP = (30, HOUR)
MOBILECONFIG_SALT = "accounts.autoconfig.mobileconfig"
PROFILE_NAMESPACE = uuid.UUID("6f1c2d1e-3a51-4c1b-9a0e-0c7f2b9d5e11")  # fixed: stable UUIDs


class BadAddress(Exception):
    """A French message and the HTTP status to answer with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message, self.status = message, status


def _refuse(exc: BadAddress) -> HttpResponse:
    return HttpResponse(
        exc.message + "\n", status=exc.status, content_type="text/plain; charset=utf-8"
    )


def domain_for_address(address: str) -> tuple[str, Domain]:
    """(the address lowercased, its Domain), or BadAddress: 400 malformed, 404 unknown domain."""
    address = (address or "").strip().lower()
    local_part, at, domain_name = address.rpartition("@")
    malformed = (
        not at
        or not local_part
        or not domain_name
        or len(address) > 254
        or any(c.isspace() or c in "<>\"'&" or ord(c) < 32 for c in address)
    )
    if malformed:
        raise BadAddress(f"« {address[:100]} » n'est pas une adresse email complète.", 400)
    domain = Domain.objects.filter(name=domain_name).first()
    if domain is None:
        raise BadAddress(f"Le domaine « {domain_name[:100]} » n'est pas géré ici.", 404)
    return address, domain


def _default_address() -> str:
    # A client that sends no address still gets the association's own domain (from the
    # settings, not from the Host header).
    return f"membre@{settings.MAIL_DOMAIN}"


@require_GET
def thunderbird(request: HttpRequest) -> HttpResponse:
    """Thunderbird's `config-v1.1.xml` (autoconfig.<domain> and /.well-known/ on <domain>)."""
    try:
        _address, domain = domain_for_address(request.GET.get("emailaddress") or _default_address())
    except BadAddress as exc:
        return _refuse(exc)
    body = render_to_string("autoconfig/config-v1.1.xml", _settings(domain))
    return HttpResponse(body, content_type="application/xml; charset=utf-8")


@csrf_exempt  # Outlook posts without a token; nothing is written, the answer is public data
@require_POST
def autodiscover(request: HttpRequest) -> HttpResponse:
    """Outlook's POX autodiscover: the request's EMailAddress → its IMAP and SMTP settings."""
    ip = client_ip(request) or ""
    if not throttle_allows(scope="autodiscover-ip", key=ip, limit=AUTODISCOVER_PER_IP):
        message = "Trop de requêtes autodiscover depuis votre adresse : réessayez dans une heure."
        return _refuse(BadAddress(message, 429))
    try:
        address, domain = domain_for_address(_requested_address(request.body))
    except BadAddress as exc:
        return _refuse(exc)
    body = render_to_string("autoconfig/autodiscover.xml", {**_settings(domain), "login": address})
    return HttpResponse(body, content_type="application/xml; charset=utf-8")


def _requested_address(body: bytes) -> str:
    if len(body) > MAX_AUTODISCOVER_BODY:
        raise BadAddress("Requête autodiscover trop longue.", 413)
    try:
        # Refused at the DOCTYPE, whatever the encoding (a byte search misses UTF-16): no
        # entity is ever declared, let alone expanded.
        root = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        raise BadAddress("Requête autodiscover refusée : DTD et entités interdites.", 400) from None
    except (ET.ParseError, ValueError, LookupError):
        # ValueError: a multi-byte encoding expat cannot read; LookupError: an unknown one.
        raise BadAddress("Requête autodiscover illisible : XML attendu.", 400) from None
    found = root.find(f"{{{AUTODISCOVER_REQUEST}}}Request/{{{AUTODISCOVER_REQUEST}}}EMailAddress")
    if found is None:
        found = root.find("Request/EMailAddress")  # some clients omit the namespace
    if found is None or not (found.text or "").strip():
        raise BadAddress("Requête autodiscover sans EMailAddress.", 400)
    return found.text


def _settings(domain: Domain) -> dict:
    return {
        "domain": domain,
        "imap_socket": "SSL" if domain.imap_security == Security.SSL_TLS else "STARTTLS",
        "smtp_socket": "SSL" if domain.smtp_security == Security.SSL_TLS else "STARTTLS",
        # Outlook's <Encryption>: SSL is TLS from the first byte, TLS means STARTTLS.
        "imap_encryption": "SSL" if domain.imap_security == Security.SSL_TLS else "TLS",
        "smtp_encryption": "SSL" if domain.smtp_security == Security.SSL_TLS else "TLS",
    }


# --- Apple configuration profile ----------------------------------------------------------
#
# The profile names the member (their address and full name), so its URL must not let
# anyone list members by trying addresses. It carries a token signed with SECRET_KEY over
# the mailbox's id: only the confirmation email holds it, it cannot be forged or guessed,
# and it reveals nothing but a number. It never expires (the profile holds no secret, and
# a member may set up a new phone years later), but it stops working when the mailbox is
# disabled. The profile holds no password: iOS and macOS ask for it when installing.


def mobileconfig_token(mailbox: Mailbox) -> str:
    return signing.dumps(mailbox.pk, salt=MOBILECONFIG_SALT)


def mobileconfig_url(mailbox: Mailbox) -> str:
    path = reverse("mobileconfig", args=[mobileconfig_token(mailbox)])
    return f"{settings.PUBLIC_BASE_URL}{path}"


@require_GET
def mobileconfig(request: HttpRequest, token: str) -> HttpResponse:
    try:
        pk = signing.loads(token, salt=MOBILECONFIG_SALT)
        mailbox = Mailbox.objects.select_related("domain", "member").get(
            pk=pk, status__in=[Mailbox.Status.PENDING, Mailbox.Status.ACTIVE]
        )
    except (signing.BadSignature, Mailbox.DoesNotExist, TypeError, ValueError):
        return _refuse(BadAddress("Ce lien de configuration n'est pas (ou plus) valable.", 404))
    response = HttpResponse(
        plistlib.dumps(apple_profile(mailbox), fmt=plistlib.FMT_XML),
        content_type="application/x-apple-aspen-config",
    )
    filename = f"{mailbox.domain.name}.mobileconfig"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def apple_profile(mailbox: Mailbox) -> dict:
    """A configuration profile with one com.apple.mail.managed payload, and no password."""
    domain, address = mailbox.domain, mailbox.address
    identifier = ".".join(reversed(domain.name.split("."))) + ".mail"
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.account.{mailbox.pk}",
        "PayloadUUID": str(uuid.uuid5(PROFILE_NAMESPACE, f"account:{address}")).upper(),
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        # A name stored before control characters were refused: XML cannot hold them.
        "EmailAccountName": without_invisible_characters(mailbox.member.full_name),
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": domain.imap_host,
        "IncomingMailServerPortNumber": domain.imap_port,
        "IncomingMailServerUseSSL": True,  # SSL/TLS or STARTTLS: never in the clear
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": domain.smtp_host,
        "OutgoingMailServerPortNumber": domain.smtp_port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,  # one password for IMAP and SMTP
    }
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.profile.{mailbox.pk}",
        "PayloadUUID": str(uuid.uuid5(PROFILE_NAMESPACE, f"profile:{address}")).upper(),
        "PayloadDisplayName": f"Messagerie {address}",
        "PayloadDescription": (
            f"Réglages de l'adresse {address} (réception IMAP et envoi SMTP). Le mot de passe "
            "est celui reçu par SMS : il vous sera demandé à l'installation."
        ),
        "PayloadOrganization": domain.name,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [account],
    }
