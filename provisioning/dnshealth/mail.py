"""The mail checks of a domain: MX, SPF, DKIM and DMARC."""

from .. import dns
from . import records, spf
from .lookups import ERROR, OK, WARNING, Run, _combine, _ok


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
    level, message = records.dkim_key(records.tags(keys[0]))
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
    policy = records.tags(policies[0])
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
