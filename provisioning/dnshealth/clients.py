"""The client checks of a domain: RFC 6186/8314 SRV, autoconfig hosts, reverse DNS."""

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings

from accounts.models import Security

from .. import dns
from .lookups import ERROR, OK, WARNING, Run, _combine, _ok


def _srv_check(service: str, protocol: str, security: str) -> Callable[[Run], tuple]:
    """An RFC 6186/8314 SRV check: `security` is the setting under which `service` is used."""

    def check(run: Run) -> tuple:
        domain = run.domain
        host = getattr(domain, f"{protocol}_host").rstrip(".").lower()
        port = getattr(domain, f"{protocol}_port")
        name = f"{service}.{domain.name}"
        answer = run.lookups(name, "SRV")
        targets = [(target, srv_port) for _prio, _weight, srv_port, target in answer.records]
        listing = ", ".join(f"{target}:{srv_port}" for target, srv_port in targets)
        offered = getattr(domain, f"{protocol}_security") == security
        if not offered:
            record = f"{name}. IN SRV 0 0 0 ."
            if not answer.found:
                return _ok(f"Absent ({answer.describe()}) : rien n'est annoncé, c'est correct.")
            if all(target == "." for target, _port in targets):
                return _ok("Cible « . » : service non proposé, comme il se doit.")
            message = (
                f"Annonce {listing}, que les réglages des membres n'utilisent pas : annoncez "
                "« . » (non proposé) ou retirez-le."
            )
            return WARNING, message, record
        record = f"{name}. IN SRV 0 1 {port} {host}."
        if not answer.found:
            message = (
                f"Absent ({answer.describe()}) : les clients qui suivent les RFC 6186 et 8314 "
                f"ne trouvent pas {host}:{port} seuls."
            )
            return WARNING, message, record
        if all(target == "." for target, _port in targets):
            return (
                ERROR,
                f"Cible « . » (non proposé), alors que les membres utilisent {host}:{port}.",
                record,
            )
        if (host, port) not in targets:
            return ERROR, f"Désigne {listing}, pas {host}:{port} que les membres utilisent.", record
        return _ok(f"{name} → {host}:{port}.")

    return check


def _client_host_check(label: str, path: str) -> Callable[[Run], tuple]:
    """`autoconfig.<domain>` and `autodiscover.<domain>` must reach this app (`path`)."""

    def check(run: Run) -> tuple:
        name = f"{label}.{run.domain.name}"
        record = f"{name}. IN CNAME {_app_host()}."
        addresses = run.lookups.addresses(name)
        if not addresses:
            why = run.lookups(name, "A").describe()
            message = (
                f"{name} ne mène nulle part ({why}) : le client de messagerie ne trouve pas "
                "sa configuration automatique et demande les réglages."
            )
            return WARNING, message, record
        local = [
            a
            for a in addresses
            if ipaddress.ip_address(a).is_loopback or ipaddress.ip_address(a).is_unspecified
        ]
        if local == addresses:
            return (
                ERROR,
                f"{name} pointe vers {', '.join(addresses)}, une adresse locale injoignable "
                "d'Internet.",
                record,
            )
        return _ok(f"{name} → {', '.join(addresses)} ; il doit servir https://{name}{path}.")

    return check


def _app_host() -> str:
    host = urlsplit(settings.PUBLIC_BASE_URL).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host or "<serveur de l'application>"
    return "<serveur de l'application>"


def check_rdns(run: Run) -> tuple:
    host = run.domain.smtp_host.rstrip(".").lower()
    addresses = run.lookups.addresses(host)
    if not addresses:
        why = run.lookups(host, "A").describe()
        return (
            ERROR,
            f"Le serveur d'envoi {host} n'a pas d'adresse ({why}).",
            f"{host}. IN A <adresse du serveur>",
        )
    parts, records = [], []
    for address in addresses:
        reverse = dns.reverse_name(address)
        ptr = run.lookups(reverse, "PTR")
        confirmed = [
            name for name in ptr.records if _same_address(address, run.lookups.addresses(name))
        ]
        if confirmed:
            parts.append((OK, f"{address} → {confirmed[0]}"))
            continue
        records.append(f"{reverse}. IN PTR {host}.  ; chez le fournisseur de l'adresse")
        if ptr.found:
            names = ", ".join(ptr.records)
            parts.append((WARNING, f"{address} → {names}, mais ce nom ne revient pas à {address}"))
        else:
            parts.append((ERROR, f"{address} n'a pas de nom inverse ({ptr.describe()})"))
    if any(level == ERROR for level, _text in parts):
        parts.append((ERROR, "Gmail et Microsoft refusent ou classent en spam ce qui en part"))
    return _combine(f"Serveur d'envoi {host}", parts, "\n".join(records))


def _same_address(address: str, candidates: list[str]) -> bool:
    wanted = ipaddress.ip_address(address)
    return any(ipaddress.ip_address(candidate) == wanted for candidate in candidates)


IMAPS = _srv_check("_imaps._tcp", "imap", Security.SSL_TLS)
SUBMISSIONS = _srv_check("_submissions._tcp", "smtp", Security.SSL_TLS)
IMAP = _srv_check("_imap._tcp", "imap", Security.STARTTLS)
SUBMISSION = _srv_check("_submission._tcp", "smtp", Security.STARTTLS)
AUTOCONFIG = _client_host_check("autoconfig", "/mail/config-v1.1.xml")
AUTODISCOVER = _client_host_check("autodiscover", "/autodiscover/autodiscover.xml")
