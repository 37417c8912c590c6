"""A DNS server on 127.0.0.1 (dnslib, random port) serving canned zones to the real resolver.

An unknown name answers NXDOMAIN; a known name without the asked type answers NOERROR with
no records; names in `timeouts` get no reply at all, names in `failures` SERVFAIL. CNAMEs
are followed inside the zone. `association_zone()` is the association's zone as it should
be, built from its published settings with documentation addresses (RFC 5737, RFC 3849).
"""

import base64
import threading

from django.test import override_settings
from dnslib import QTYPE, RCODE, RR, DNSError
from dnslib.server import DNSServer

DOMAIN = "octopus-soignies.be"
MAIL_IPV4 = "192.0.2.10"
MAIL_IPV6 = "2001:db8::10"
DKIM_SELECTOR = "mail"


class _Quiet:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class FakeDnsServer:
    def __init__(self, zone: str = ""):
        self.records: list[RR] = []
        self.timeouts: set[str] = set()
        self.failures: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self.load(zone)
        self._server = DNSServer(self, address="127.0.0.1", port=0, logger=_Quiet())

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self._server.server.server_address[1]}"

    def start(self) -> "FakeDnsServer":
        # A short poll interval: stop() returns within 50 ms instead of socketserver's 0.5 s.
        self._thread = threading.Thread(
            target=self._server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()

    def load(self, zone: str) -> None:
        """Serve this zone text (zone-file syntax) from now on, and forget the special names."""
        self.records = RR.fromZone(zone) if zone.strip() else []
        self.timeouts, self.failures = set(), set()
        self.queries = []

    # dnslib's resolver interface
    def resolve(self, request, handler):
        name = str(request.q.qname).rstrip(".").lower()
        qtype = request.q.qtype
        self.queries.append((name, QTYPE[qtype]))
        if name in self.timeouts:
            raise DNSError("dropped: the client waits until its timeout")
        reply = request.reply()
        if name in self.failures:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for _hop in range(8):
            here = [rr for rr in self.records if str(rr.rname).rstrip(".").lower() == name]
            if not here:
                if not reply.rr:
                    reply.header.rcode = RCODE.NXDOMAIN
                break
            answers = [rr for rr in here if rr.rtype == qtype]
            aliases = [rr for rr in here if rr.rtype == QTYPE.CNAME]
            if answers or not aliases:
                for rr in answers:
                    reply.add_answer(rr)
                break
            reply.add_answer(aliases[0])
            name = str(aliases[0].rdata.label).rstrip(".").lower()
        return reply


class LoopbackDns:
    """TestCase mixin: one server for the class, `self.dns` serving the association's zone."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dns = FakeDnsServer().start()
        cls.addClassCleanup(cls.dns.stop)
        resolver = override_settings(
            DNS_NAMESERVERS=[cls.dns.nameserver], DNS_TIMEOUT=1, DNS_LIFETIME=2
        )
        resolver.enable()
        cls.addClassCleanup(resolver.disable)

    def setUp(self):
        super().setUp()
        self.dns.load(association_zone())


# --- Zones --------------------------------------------------------------------------------


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def rsa_public_key(bits: int) -> str:
    """A DKIM p= value: an RSA SubjectPublicKeyInfo whose modulus has exactly `bits` bits.

    Fixed bytes, not a usable key: the checks read the key's type and length only.
    """
    modulus = int("c3" * (bits // 8), 16) | 1
    algorithm = _der(0x30, bytes.fromhex("06092a864886f70d010101") + b"\x05\x00")
    key = _der(0x30, _integer(modulus) + _integer(65537))
    spki = _der(0x30, algorithm + _der(0x03, b"\x00" + key))
    return base64.b64encode(spki).decode()


def txt(text: str, size: int = 200) -> str:
    """A TXT value in zone-file syntax, split in strings of `size` characters as publishers do."""
    return " ".join(f'"{text[i : i + size]}"' for i in range(0, len(text), size))


def association_zone(*, dkim_bits: int = 2048) -> str:
    """octopus-soignies.be as it should be: mail host octopus-soignies.be, SSL/TLS ports."""
    dkim = txt(f"v=DKIM1; k=rsa; p={rsa_public_key(dkim_bits)}")
    return f"""$ORIGIN {DOMAIN}.
$TTL 3600
@                  IN SOA ns1.{DOMAIN}. hostmaster.{DOMAIN}. 2026120101 7200 3600 1209600 3600
@                  IN NS    ns1.{DOMAIN}.
ns1                IN A     192.0.2.53
@                  IN A     {MAIL_IPV4}
@                  IN AAAA  {MAIL_IPV6}
@                  IN MX    10 {DOMAIN}.
@                  IN TXT   "v=spf1 mx -all"
{DKIM_SELECTOR}._domainkey    IN TXT {dkim}
_dmarc             IN TXT   "v=DMARC1; p=quarantine; rua=mailto:dmarc@{DOMAIN}"
_imaps._tcp        IN SRV   0 1 993 {DOMAIN}.
_submissions._tcp  IN SRV   0 1 465 {DOMAIN}.
_imap._tcp         IN SRV   0 0 0 .
_submission._tcp   IN SRV   0 0 0 .
mail               IN A     192.0.2.11
cloud              IN A     192.0.2.12
comptes            IN A     192.0.2.20
autoconfig         IN CNAME comptes.{DOMAIN}.
autodiscover       IN CNAME comptes.{DOMAIN}.
10.2.0.192.in-addr.arpa. IN PTR {DOMAIN}.
0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR {DOMAIN}.
"""


def _owner_matches(line: str, starts: tuple[str, ...]) -> bool:
    normalized = " ".join(line.split())
    return any(normalized.startswith(start) for start in starts)


def zone_without(zone: str, *starts: str) -> str:
    """The zone minus its lines that start with one of `starts` (spaces normalized).

    zone_without(z, "@ IN TXT") drops the SPF record; zone_without(z, "_dmarc") DMARC.
    """
    return "\n".join(line for line in zone.splitlines() if not _owner_matches(line, starts)) + "\n"


def zone_with(zone: str, *lines: str) -> str:
    return zone + "\n".join(lines) + "\n"


def zone_replacing(zone: str, start: str, *lines: str) -> str:
    return zone_with(zone_without(zone, start), *lines)
