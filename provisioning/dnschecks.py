"""DNS health of a mail domain: one finding per check, in French, with the record to publish.

Checks MX, SPF, DKIM, DMARC, the RFC 6186/8314 SRV records, the `autoconfig` and
`autodiscover` host names and the reverse DNS of the sending server. All queries go
through `provisioning.dns`. A timeout is never read as "record missing": the finding
is then a warning marked inconclusive, which the daily watch neither stores nor reports.
"""

import ipaddress
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from django.conf import settings

from accounts.models import DnsLevel, Domain, Security

from . import dns, dnsrecords, spf
from .exceptions import PermanentError, TransientError

OK, WARNING, ERROR = DnsLevel.OK, DnsLevel.WARNING, DnsLevel.ERROR
RANK = {OK: 0, WARNING: 1, ERROR: 2}
GIVE_UP_AFTER_TIMEOUTS = 2


@dataclass(frozen=True)
class Finding:
    check: str
    label: str
    level: str
    message: str
    record: str = ""  # what to publish, zone-file syntax; empty when all is well
    conclusive: bool = True

    @property
    def level_label(self) -> str:
        if not self.conclusive:
            return "indéterminé"
        return str(DnsLevel(self.level).label)

    def as_dict(self) -> dict:
        return {**asdict(self), "level_label": self.level_label}


class Lookups:
    """One run's queries: each asked once; none asked once the DNS has stopped answering."""

    def __init__(self):
        self._answers: dict = {}
        self._timeouts = 0

    def __call__(self, name: str, rdtype: str) -> dns.Answer:
        key = (name.strip().rstrip(".").lower(), rdtype)
        if key not in self._answers:
            if self._timeouts >= GIVE_UP_AFTER_TIMEOUTS:
                raise dns.DnsTimeout(
                    "Le serveur DNS ne répond plus (plusieurs délais dépassés) : contrôle "
                    "abandonné, ce qui ne veut pas dire que l'enregistrement manque."
                )
            try:
                self._answers[key] = dns.lookup(*key)
            except TransientError as exc:
                self._timeouts += isinstance(exc, dns.DnsTimeout)
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, TransientError):
            raise type(answer)(answer.message)
        return answer

    def addresses(self, host: str) -> list[str]:
        return [*self(host, "A").records, *self(host, "AAAA").records]


@dataclass
class Run:
    domain: Domain
    lookups: Lookups
    dkim_selector: str


# Each check returns (level, message, record to publish).
def _ok(message: str) -> tuple:
    return OK, message, ""


def _combine(subject: str, parts: list[tuple], record: str = "") -> tuple:
    """Several remarks in one finding: the worst level, `subject : remark ; remark.`"""
    level = max((level for level, _text in parts), key=RANK.get, default=OK)
    message = f"{subject} : {' ; '.join(text for _level, text in parts)}."
    return level, message, record if level != OK else ""


def check_mx(run: Run) -> tuple:
    domain, host = run.domain.name, run.domain.mail_host
    record = f"{domain}. IN MX 10 {host}."
    answer = run.lookups(domain, "MX")
    if not answer.found:
        fate = (
            "le courrier pour @{domain} est perdu"
            if answer.status == dns.NXDOMAIN
            else "le courrier pour @{domain} ne trouve au mieux que l'adresse du domaine"
        ).format(domain=domain)
        return ERROR, f"Aucun MX : {answer.describe()} ; {fate}.", record
    listing = ", ".join(f"{pref} {name}" for pref, name in sorted(answer.records))
    names = [name for _pref, name in answer.records if name != "."]
    if not names:
        return (
            ERROR,
            f"MX nul ({listing}) : le domaine annonce qu'il ne reçoit aucun courrier.",
            record,
        )
    if host not in names:
        return ERROR, f"Le MX désigne {listing}, pas le serveur configuré {host}.", record
    best = min(pref for pref, name in answer.records if name != ".")
    if (best, host) not in answer.records:
        message = (
            f"{host} est un MX, mais pas le préféré ({listing}) : le courrier arrive ailleurs."
        )
        return WARNING, message, record
    return _ok(f"Le courrier pour @{domain} arrive sur {host} (MX {listing}).")


def check_spf(run: Run) -> tuple:
    domain, host = run.domain.name, run.domain.smtp_host.rstrip(".").lower()
    mechanisms = "mx" if host == run.domain.mail_host else f"a:{host} mx"
    record = f'{domain}. IN TXT "v=spf1 {mechanisms} -all"'
    answer = run.lookups(domain, "TXT")
    texts = [text for text in answer.records if spf.is_spf(text)]
    if not texts:
        why = answer.describe() if not answer.found else "aucun TXT ne commence par v=spf1"
        return (
            ERROR,
            f"Aucun enregistrement SPF ({why}) : tout le monde peut écrire au nom de @{domain}.",
            record,
        )
    if len(texts) > 1:
        quoted = " et ".join(f"« {text} »" for text in texts)
        message = (
            f"{len(texts)} enregistrements SPF ({quoted}) : les destinataires les ignorent "
            "tous (permerror). Fusionnez-les en un seul."
        )
        return ERROR, message, record
    try:
        parsed = spf.parse(texts[0])
        count = spf.count_lookups(domain, run.lookups)
        verdicts = {ip: spf.evaluate(ip, domain, run.lookups) for ip in run.lookups.addresses(host)}
    except spf.SpfError as exc:
        return (
            ERROR,
            f"SPF illisible pour les destinataires (permerror) : {exc}. « {texts[0]} »",
            record,
        )
    parts = []
    if count > spf.LOOKUP_LIMIT:
        parts.append((ERROR, f"{count} requêtes DNS à l'évaluation, plus que les 10 permises"))
    parts += _spf_ending(parsed)
    if not verdicts:
        parts.append((WARNING, f"{host} n'a pas d'adresse, impossible de vérifier son droit"))
    for ip, verdict in verdicts.items():
        if verdict.result == "pass":
            parts.append((OK, f"{host} ({ip}) est autorisé"))
        elif verdict.uncertain:
            parts.append((WARNING, f"{host} ({ip}) : {verdict.result}, à confirmer (macro, ptr)"))
        else:
            parts.append((ERROR, f"{host} ({ip}) n'est pas autorisé (résultat {verdict.result})"))
    return _combine(f"« {texts[0]} »", parts, record)


def _spf_ending(parsed: spf.Record) -> list[tuple]:
    endings = [term for term in parsed.terms if term.mechanism == "all"]
    if "redirect" in parsed.modifiers and not endings:
        return []  # the redirected record decides
    if not endings:
        return [(WARNING, "ne se termine ni par -all ni par ~all, les autres serveurs passent")]
    qualifier = endings[-1].qualifier
    if qualifier == "+":
        return [(ERROR, "« +all » autorise n'importe quel serveur au monde, mettez -all")]
    if qualifier == "?":
        return [(WARNING, "« ?all » est neutre, terminez par -all (ou ~all)")]
    return [(OK, f"se termine par {qualifier}all")]


def check_dkim(run: Run) -> tuple:
    domain, selector = run.domain.name, run.dkim_selector
    if not selector:
        record = f'<sélecteur>._domainkey.{domain}. IN TXT "v=DKIM1; k=rsa; p=<clé publique>"'
        message = (
            "Aucun sélecteur DKIM indiqué pour ce domaine : renseignez-le dans la fiche du "
            "domaine (ou --dkim-selector) pour que la clé soit vérifiée."
        )
        return WARNING, message, record
    name = f"{selector}._domainkey.{domain}"
    record = f'{name}. IN TXT "v=DKIM1; k=rsa; p=<clé publique RSA de 2048 bits>"'
    answer = run.lookups(name, "TXT")
    keys = [text for text in answer.records if "p=" in text.replace(" ", "")]
    if not keys:
        why = answer.describe() if not answer.found else f"aucun TXT de {name} ne contient p="
        message = (
            f"Aucune clé DKIM pour le sélecteur « {selector} » ({why}) : les signatures du "
            "serveur ne peuvent pas être vérifiées."
        )
        return ERROR, message, record
    if len(keys) > 1:
        return ERROR, f"{len(keys)} clés DKIM publiées à {name} : une seule est permise.", record
    level, message = dnsrecords.dkim_key(dnsrecords.tags(keys[0]))
    return level, f"Sélecteur « {selector} » : {message}", record if level != OK else ""


def check_dmarc(run: Run) -> tuple:
    domain = run.domain.name
    name = f"_dmarc.{domain}"
    contact = run.domain.contact_email or f"postmaster@{domain}"
    record = f'{name}. IN TXT "v=DMARC1; p=quarantine; rua=mailto:{contact}"'
    answer = run.lookups(name, "TXT")
    policies = [text for text in answer.records if text.strip().lower().startswith("v=dmarc1")]
    if not policies:
        why = answer.describe() if not answer.found else "aucun TXT ne commence par v=DMARC1"
        message = f"Aucune politique DMARC ({why}) : Gmail, Yahoo et Microsoft la demandent."
        return ERROR, message, record
    if len(policies) > 1:
        return (
            ERROR,
            f"{len(policies)} politiques DMARC : les destinataires les ignorent toutes.",
            record,
        )
    policy = dnsrecords.tags(policies[0])
    p = policy.get("p", "").lower()
    if p not in ("none", "quarantine", "reject"):
        return (
            ERROR,
            f"« {policies[0]} » : p={p or '(absent)'} n'est pas une politique "
            "(none, quarantine ou reject).",
            record,
        )
    if p == "none":
        parts = [
            (WARNING, "p=none ne fait que surveiller, les usurpations passent : visez p=quarantine")
        ]
    else:
        parts = [(OK, f"politique p={p}")]
    reports = [uri.strip() for uri in policy.get("rua", "").split(",") if uri.strip()]
    if not reports:
        parts.append((WARNING, "pas de rua=, personne ne reçoit les rapports des destinataires"))
    elif not all(uri.lower().startswith("mailto:") for uri in reports):
        parts.append((WARNING, "rua= doit donner des adresses mailto:"))
    else:
        parts.append((OK, f"rapports envoyés à {', '.join(reports)}"))
    return _combine(f"« {policies[0]} »", parts, record)


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
CHECKS = [
    ("mx", "MX", check_mx),
    ("spf", "SPF", check_spf),
    ("dkim", "DKIM", check_dkim),
    ("dmarc", "DMARC", check_dmarc),
    ("srv_imaps", "SRV _imaps._tcp", IMAPS),
    ("srv_submissions", "SRV _submissions._tcp", SUBMISSIONS),
    ("srv_imap", "SRV _imap._tcp", IMAP),
    ("srv_submission", "SRV _submission._tcp", SUBMISSION),
    ("autoconfig", "autoconfig (Thunderbird)", AUTOCONFIG),
    ("autodiscover", "autodiscover (Outlook)", AUTODISCOVER),
    ("rdns", "DNS inverse (PTR)", check_rdns),
]


def domain_check_dns(*, domain: Domain, dkim_selector: str = "") -> list[Finding]:
    """Every check of `domain`, in a fixed order; never raises for what the DNS says."""
    run = Run(domain, Lookups(), (dkim_selector or domain.dkim_selector).strip().lower())
    findings = []
    for key, label, check in CHECKS:
        try:
            level, message, record = check(run)
        except TransientError as exc:
            findings.append(Finding(key, label, WARNING, exc.message, conclusive=False))
            continue
        except PermanentError as exc:
            level, message, record = ERROR, exc.message, ""
        findings.append(Finding(key, label, level, message, record))
    return findings


def personal_email_warning(address: str) -> str | None:
    """A French warning when a member's personal address cannot receive mail; never blocks."""
    problem = dns.email_domain_problem(address)
    if not problem:
        return None
    return (
        f"Attention : {problem}. L'email de confirmation envoyé à {address} risque de ne "
        "jamais arriver : vérifiez l'adresse personnelle du membre."
    )
