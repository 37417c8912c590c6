"""SPF (RFC 7208), read far enough to tell an administrator what is wrong with a record."""

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

# It parses a record, counts the DNS lookups a receiver makes (10 at most, includes and
# redirects followed), and evaluates whether an address passes. It asks the DNS only
# through the `lookup(name, type)` it is given, so the checks' cache answers; macros and
# `ptr` cannot be evaluated here and make the verdict uncertain instead of wrong.
LOOKUP_LIMIT = 10
MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
COUNTED = {"include", "a", "mx", "ptr", "exists"}  # and the redirect= modifier
RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z0-9]+)(?::([^/]*))?(?:/(\d+))?(?://(\d+))?$")
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$")


class SpfError(Exception):
    """A permanent error (permerror): receivers ignore the whole record. French message."""


@dataclass(frozen=True)
class Term:
    qualifier: str
    mechanism: str
    value: str = ""
    cidr4: int | None = None
    cidr6: int | None = None


@dataclass(frozen=True)
class Record:
    terms: tuple[Term, ...]
    modifiers: dict


@dataclass(frozen=True)
class Verdict:
    result: str  # pass, fail, softfail, neutral, none
    uncertain: bool  # a macro or ptr was skipped: the result may be wrong


def is_spf(text: str) -> bool:
    lowered = text.strip().lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def parse(text: str) -> Record:
    terms, modifiers = [], {}
    for word in text.split()[1:]:
        lowered = word.lower()
        if modifier := _MODIFIER.match(lowered):
            name = modifier.group(1)
            if name in modifiers and name in ("redirect", "exp"):
                raise SpfError(f"le modificateur {name}= apparaît deux fois")
            modifiers[name] = word.split("=", 1)[1]
            continue
        match = _MECHANISM.match(lowered)
        if not match or match.group(2) not in MECHANISMS:
            raise SpfError(f"« {word} » n'est pas un mécanisme SPF")
        qualifier, mechanism, value, cidr4, cidr6 = match.groups()
        term = Term(
            qualifier or "+",
            mechanism,
            value or "",
            int(cidr4) if cidr4 else None,
            int(cidr6) if cidr6 else None,
        )
        _check_term(term, word)
        terms.append(term)
    return Record(tuple(terms), modifiers)


def _check_term(term: Term, word: str) -> None:
    if term.mechanism in ("ip4", "ip6"):
        try:
            _network(term)
        except ValueError:
            raise SpfError(f"« {word} » n'est pas un réseau valide") from None
    elif term.mechanism in ("include", "exists") and not term.value:
        raise SpfError(f"« {word} » doit nommer un domaine")
    if (term.cidr4 is not None and term.cidr4 > 32) or (
        term.cidr6 is not None and term.cidr6 > 128
    ):
        raise SpfError(f"« {word} » : longueur de préfixe impossible")


def _network(term: Term):
    version = ipaddress.IPv4Network if term.mechanism == "ip4" else ipaddress.IPv6Network
    default = 32 if term.mechanism == "ip4" else 128
    return version(f"{term.value}/{term.cidr4 if term.cidr4 is not None else default}", False)


Lookup = Callable[[str, str], object]  # provisioning.dns.Answer, through the checks' cache


def records_at(domain: str, lookup: Lookup) -> list[str]:
    return [text for text in lookup(domain, "TXT").records if is_spf(text)]


def _single(domain: str, lookup: Lookup) -> Record | None:
    records = records_at(domain, lookup)
    if len(records) > 1:
        raise SpfError(f"{domain} publie {len(records)} enregistrements SPF")
    return parse(records[0]) if records else None


def count_lookups(domain: str, lookup: Lookup, depth: int = 0) -> int:
    """The lookups a receiver makes evaluating every term: each include and redirect followed."""
    if depth > LOOKUP_LIMIT:
        raise SpfError("les include et redirect s'enchaînent sans fin (une boucle ?)")
    record = _single(domain, lookup)
    if record is None:
        return 0
    count = 0
    for term in record.terms:
        count += term.mechanism in COUNTED
        if term.mechanism == "include" and "%" not in term.value:
            count += count_lookups(term.value, lookup, depth + 1)
    target = record.modifiers.get("redirect")
    if target:
        count += 1 + (0 if "%" in target else count_lookups(target, lookup, depth + 1))
    return count


class _Evaluation:
    def __init__(self, lookup: Lookup):
        self.lookup = lookup
        self.uncertain = False

    def check_host(self, ip, domain: str, depth: int = 0) -> str:
        if depth > LOOKUP_LIMIT:
            raise SpfError("les include et redirect s'enchaînent sans fin (une boucle ?)")
        record = _single(domain, self.lookup)
        if record is None:
            return "none"
        for term in record.terms:
            if self.matches(term, ip, domain, depth):
                return RESULTS[term.qualifier]
        target = record.modifiers.get("redirect")
        if target and "%" not in target:
            result = self.check_host(ip, target, depth + 1)
            if result == "none":
                raise SpfError(f"redirect={target} ne mène à aucun SPF")
            return result
        self.uncertain |= bool(target)
        return "neutral"

    def matches(self, term: Term, ip, domain: str, depth: int) -> bool:
        if term.mechanism == "all":
            return True
        if term.mechanism in ("ip4", "ip6"):
            network = _network(term)
            return network.version == ip.version and ip in network
        target = term.value or domain
        if term.mechanism == "ptr" or "%" in target:
            self.uncertain = True
            return False
        if term.mechanism == "include":
            result = self.check_host(ip, target, depth + 1)
            if result == "none":
                raise SpfError(f"include:{target} ne mène à aucun SPF")
            return result == "pass"
        if term.mechanism == "exists":
            return self.lookup(target, "A").found
        hosts = [target]
        if term.mechanism == "mx":
            hosts = [host for _pref, host in self.lookup(target, "MX").records if host != "."]
        prefix = term.cidr4 if ip.version == 4 else term.cidr6
        prefix = prefix if prefix is not None else ip.max_prefixlen
        rdtype = "A" if ip.version == 4 else "AAAA"
        for host in hosts[:LOOKUP_LIMIT]:
            for address in self.lookup(host, rdtype).records:
                if ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False):
                    return True
        return False


def evaluate(address: str, domain: str, lookup: Lookup) -> Verdict:
    """What a receiver concludes for mail from `address` claiming `domain`."""
    evaluation = _Evaluation(lookup)
    result = evaluation.check_host(ipaddress.ip_address(address), domain)
    return Verdict(result, evaluation.uncertain)
