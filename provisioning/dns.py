"""The DNS gateway: the only module that asks a resolver anything.

Every query has an explicit per-server timeout and a total lifetime. `DNS_NAMESERVERS`
(`host[:port]` strings) replaces the system resolver, for tests and split-horizon setups.
An answer keeps apart "the name does not exist" (NXDOMAIN) and "the name exists without
this type" (no data); a timeout or a failing server raises a TransientError instead,
because it says nothing about the records.
"""

import ipaddress
import logging
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.reversename
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

from .exceptions import PermanentError, TransientError

logger = logging.getLogger(__name__)

FOUND, NXDOMAIN, NODATA = "found", "nxdomain", "nodata"
TYPES = {"A", "AAAA", "CNAME", "MX", "PTR", "SRV", "TXT"}


class DnsTimeout(TransientError):
    """No answer within the lifetime: the records may well exist."""


class DnsFailure(TransientError):
    """Every server refused or failed (SERVFAIL, REFUSED, unreachable)."""


@dataclass(frozen=True)
class Answer:
    """What the DNS said about one name and type; `records` are plain Python values."""

    name: str
    rdtype: str
    status: str  # FOUND, NXDOMAIN or NODATA
    records: tuple = ()

    @property
    def found(self) -> bool:
        return self.status == FOUND

    def describe(self) -> str:
        """French, for a finding: why there is nothing to read."""
        if self.status == NXDOMAIN:
            return f"le nom {self.name} n'existe pas (NXDOMAIN)"
        if self.status == NODATA:
            return f"le nom {self.name} existe mais n'a pas d'enregistrement {self.rdtype}"
        return f"{self.name} {self.rdtype} : {', '.join(map(str, self.records))}"


def parse_nameservers(values: list[str]) -> list[tuple[str, int]]:
    """`["192.0.2.53", "127.0.0.1:5353", "[2001:db8::53]:53"]` → [(address, port)]."""
    parsed = []
    for value in values:
        host, port = value.strip(), "53"
        if host.startswith("["):
            host, _bracket, rest = host[1:].partition("]")
            port = rest.removeprefix(":") or port
        elif host.count(":") == 1:
            host, port = host.split(":")
        try:
            address = str(ipaddress.ip_address(host))
            number = int(port)
        except ValueError:
            raise ImproperlyConfigured(
                f"DNS_NAMESERVERS: {value!r} is not an IP address with an optional port "
                "(192.0.2.53, 127.0.0.1:5353, [2001:db8::53]:53)."
            ) from None
        if not 0 < number < 65536:
            raise ImproperlyConfigured(f"DNS_NAMESERVERS: port {number} out of range in {value!r}")
        parsed.append((address, number))
    return parsed


def resolver() -> dns.resolver.Resolver:
    """A fresh resolver with the configured servers, timeout and lifetime, and no cache."""
    servers = parse_nameservers(settings.DNS_NAMESERVERS)
    if servers:
        result = dns.resolver.Resolver(configure=False)
        result.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in servers]
    else:
        result = dns.resolver.Resolver()  # /etc/resolv.conf
    result.timeout = settings.DNS_TIMEOUT
    result.lifetime = settings.DNS_LIFETIME
    return result


def describe_nameservers() -> str:
    servers = parse_nameservers(settings.DNS_NAMESERVERS)
    if not servers:
        return "résolveur du système"
    return ", ".join(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip, port in servers)


def lookup(name: str, rdtype: str) -> Answer:
    """The records of one type at `name`; raises DnsTimeout or DnsFailure when nobody knows."""
    if rdtype not in TYPES:
        raise ValueError(f"unsupported record type {rdtype}")
    name = name.strip().rstrip(".").lower()
    try:
        qname = dns.name.from_text(name)
    except (dns.exception.DNSException, UnicodeError):
        raise PermanentError(f"« {name} » n'est pas un nom de domaine valide.") from None
    try:
        answer = resolver().resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Answer(name, rdtype, NXDOMAIN)
    except dns.resolver.LifetimeTimeout:
        raise DnsTimeout(
            f"Le serveur DNS n'a pas répondu à temps pour {name} {rdtype} "
            f"({settings.DNS_LIFETIME} s) : impossible de vérifier, ce qui ne veut pas dire "
            "que l'enregistrement manque."
        ) from None
    except dns.resolver.NoNameservers:
        raise DnsFailure(
            f"Aucun serveur DNS n'a pu répondre pour {name} {rdtype} (erreur du serveur ou "
            "refus) : impossible de vérifier."
        ) from None
    except dns.exception.DNSException as exc:
        logger.warning("DNS query %s %s failed: %s", name, rdtype, type(exc).__name__)
        raise DnsFailure(
            f"La requête DNS {name} {rdtype} a échoué : impossible de vérifier."
        ) from None
    if answer.rrset is None:
        return Answer(name, rdtype, NODATA)
    return Answer(name, rdtype, FOUND, tuple(_value(rdata) for rdata in answer.rrset))


def reverse_name(address: str) -> str:
    """`192.0.2.10` → `10.2.0.192.in-addr.arpa`: where the PTR record of an address lives."""
    return dns.reversename.from_address(address).to_text(omit_final_dot=True)


def _host(name: dns.name.Name) -> str:
    """`Mail.Example.BE.` → `mail.example.be`; the root (`.`, "not offered") stays `.`."""
    if name == dns.name.root:
        return "."
    return name.to_text(omit_final_dot=True).lower()


def _value(rdata):
    rdtype = dns.rdatatype.to_text(rdata.rdtype)
    if rdtype in ("A", "AAAA"):
        return rdata.address
    if rdtype == "MX":
        return (rdata.preference, _host(rdata.exchange))
    if rdtype == "SRV":
        return (rdata.priority, rdata.weight, rdata.port, _host(rdata.target))
    if rdtype == "TXT":
        # A long record (a DKIM key) comes as several strings of at most 255 bytes: one value.
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return _host(rdata.target)  # CNAME, PTR


def email_domain_problem(address: str) -> str | None:
    """A French sentence when the address's domain cannot receive mail (no MX, no address).

    None when it can, and also when the DNS could not tell (timeout, failing server):
    email-validator reports those as "unknown deliverability", never as an error.
    """
    try:
        result = validate_email(address, check_deliverability=True, dns_resolver=resolver())
    except EmailUndeliverableError as exc:
        domain = address.rpartition("@")[2]
        text = str(exc)
        if text.startswith("There was an error"):
            logger.warning("deliverability of a personal email not checked: %s", text)
            return None
        if "does not exist" in text:
            return f"le domaine {domain} n'existe pas dans le DNS"
        return f"le domaine {domain} n'a ni serveur de courrier (MX) ni adresse"
    except EmailNotValidError:
        return None  # the syntax is checked, in French, by the form
    if not getattr(result, "mx", None):
        logger.info("deliverability of a personal email unknown (DNS timeout or failure)")
    return None
