"""The rules an alias must pass before anything is written (invariant 5), in French.

The source: a full address on a managed domain, not a mailbox (here or in the mail table).
The destinations: one to MAX_DESTINATIONS well-formed addresses, each a mailbox or alias of
ours or an outside address, without a loop (a → b → a, also through several aliases).
Warnings never refuse: an outside destination breaks SPF for strict DMARC senders unless the
server rewrites senders (SRS); an outside domain without MX; a disabled mailbox.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import CharField, Value
from django.db.models.functions import Concat, Lower

from accounts.models import Alias, AliasDestination, Domain, Mailbox
from accounts.validators import normalize_personal_email, validate_local_part

from . import dns, mailserver
from .exceptions import ProvisioningError

MAX_DESTINATIONS = 100
_SEPARATORS = re.compile(r"[\s,;]+")

SRS_WARNING = (
    "Transfert vers l'extérieur ({addresses}) : les messages dont l'expéditeur publie un "
    "DMARC strict (p=reject ou quarantine) y échoueront au contrôle SPF, sauf si le serveur "
    "réécrit l'expéditeur (SRS, par exemple postsrsd avec Postfix)."
)
NO_MX_WARNING = (
    "Attention : {problem}. Le courrier transféré à {address} risque de ne jamais arriver : "
    "vérifiez l'adresse."
)
DISABLED_WARNING = (
    "{address} est désactivée : le courrier que l'alias lui transmet est refusé tant qu'elle "
    "n'est pas réactivée."
)
ADOPTED_WARNING = (
    "La table du serveur mail contenait déjà un alias {address} (fait à la main ?) : ses "
    "destinations sont remplacées par celles-ci."
)


@dataclass(frozen=True)
class CheckedAlias:
    """An alias that passed every check, and what the administrator should still know."""

    domain: Domain
    local_part: str
    destinations: tuple[tuple[str, bool], ...]  # (address, external)
    existing: Alias | None
    warnings: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"


# --- Checks ----------------------------------------------------------------------------------


def alias_check(
    *, source: str, destinations: Iterable[str] | str, new: bool = False, with_warnings=True
) -> CheckedAlias:
    """Every rule, before anything is written; errors keyed `source` and `destinations`.

    `new`: an alias of that address must not exist yet (the admin's add form); otherwise an
    existing alias gets its destinations replaced (`createalias`). `with_warnings=False`
    skips what only warns (DNS lookups), for a form that the use case checks again.
    """
    errors: dict[str, list[str]] = {}
    try:
        local_part, domain, existing = _checked_source(source, new=new)
    except ValidationError as exc:
        errors["source"] = exc.messages
        local_part, domain, existing = "", None, None
    try:
        checked = _checked_destinations(destinations, f"{local_part}@{domain}" if domain else "")
    except ValidationError as exc:
        errors["destinations"] = exc.messages
        checked = []
    if errors:
        raise ValidationError(errors)
    if not with_warnings:
        return CheckedAlias(domain, local_part, tuple(checked), existing)
    warnings = _warnings(checked)
    if existing is None and _row_already_there(f"{local_part}@{domain.name}"):
        warnings.insert(0, ADOPTED_WARNING.format(address=f"{local_part}@{domain.name}"))
    return CheckedAlias(domain, local_part, tuple(checked), existing, tuple(warnings))


def _checked_source(source: str, *, new: bool) -> tuple[str, Domain, Alias | None]:
    local_part, at, domain_name = (source or "").strip().lower().rpartition("@")
    if not at or not local_part or not domain_name:
        raise ValidationError(f"« {source} » n'est pas une adresse complète (nom@domaine).")
    domain = Domain.objects.filter(name=domain_name).first()
    if domain is None:
        known = ", ".join(Domain.objects.values_list("name", flat=True)) or "aucun"
        raise ValidationError(
            f"Le domaine « {domain_name} » n'est pas géré ici (domaines connus : {known})."
        )
    validate_local_part(local_part)
    address = f"{local_part}@{domain.name}"
    if (
        Mailbox.objects.annotate(low=Lower("local_part"))
        .filter(low=local_part, domain=domain)
        .exists()
    ):
        raise ValidationError(
            f"{address} est une adresse mail (une boîte) : un alias ne peut pas porter la même "
            "adresse."
        )
    if _mailbox_row_there(address):
        raise ValidationError(
            f"{address} est une boîte aux lettres dans la table du serveur mail (créée à la "
            "main ?) : un alias ne peut pas porter la même adresse."
        )
    existing = aliases_by_local_part().filter(low=local_part, domain=domain).first()
    if existing is not None and new and not existing.deleted:
        raise ValidationError(f"L'alias {address} existe déjà : modifiez-le plutôt.")
    return local_part, domain, existing


def _checked_destinations(items: Iterable[str] | str, source: str) -> list[tuple[str, bool]]:
    if isinstance(items, str):
        items = _SEPARATORS.split(items)
    errors, found = [], {}
    for item in (item.strip() for item in items):
        if not item:
            continue
        try:
            address, external = _destination(item)
        except ValidationError as exc:
            errors += exc.messages
            continue
        found.setdefault(address, external)
    if errors:
        raise ValidationError(errors)
    if not found:
        raise ValidationError("Indiquez au moins une destination (une adresse par ligne).")
    if len(found) > MAX_DESTINATIONS:
        raise ValidationError(
            f"{len(found)} destinations : {MAX_DESTINATIONS} au plus. Pour une liste plus "
            "grande, utilisez un gestionnaire de listes de diffusion (Mailman, Sympa)."
        )
    internal = [address for address, external in found.items() if not external]
    _refuse_unknown([address for address in internal if address != source])
    if source:
        _refuse_a_loop(source, internal)
    return list(found.items())


def _destination(item: str) -> tuple[str, bool]:
    """(address, external): ours lowercased; an outside address normalized."""
    try:
        normalized = normalize_personal_email(item)
    except ValidationError:
        raise ValidationError(
            f"Destination « {item} » : ce n'est pas une adresse email valide."
        ) from None
    local_part, _at, domain = normalized.rpartition("@")
    if Domain.objects.filter(name=domain.lower()).exists():
        return f"{local_part.lower()}@{domain.lower()}", False
    return normalized, True


def _full_address(queryset):
    return queryset.annotate(
        full=Concat(Lower("local_part"), Value("@"), "domain__name", output_field=CharField())
    )


def aliases_by_local_part():
    """Aliases with `low`, their lowercased local part (the unique index's expression)."""
    return Alias.objects.annotate(low=Lower("local_part"))


def _refuse_unknown(internal: list[str]) -> None:
    live = Mailbox.objects.exclude(status=Mailbox.Status.DELETED)
    mailboxes = set(_full_address(live).filter(full__in=internal).values_list("full"))
    aliases = _full_address(Alias.objects.filter(deleted=False)).filter(full__in=internal)
    known = {full for (full,) in mailboxes} | set(aliases.values_list("full", flat=True))
    unknown = [address for address in internal if address not in known]
    if unknown:
        deleted = _full_address(Mailbox.objects.filter(status=Mailbox.Status.DELETED))
        gone = sorted(deleted.filter(full__in=unknown).values_list("full", flat=True))
        if gone:
            message = "{} est supprimée : elle ne reçoit plus de courrier."
            raise ValidationError([message.format(address) for address in gone])
        raise ValidationError(
            [
                f"{address} n'existe pas : ni adresse mail, ni alias de ce domaine."
                for address in unknown
            ]
        )


def _refuse_a_loop(source: str, internal: list[str]) -> None:
    """a → b → a, also through several aliases: the mail would go round for ever."""
    edges: dict[str, list[str]] = {source: internal}
    others = AliasDestination.objects.filter(alias__deleted=False, external=False).values_list(
        "alias__local_part", "alias__domain__name", "address"
    )
    for local_part, domain_name, address in others:
        origin = f"{local_part.lower()}@{domain_name}"
        if origin != source:
            edges.setdefault(origin, []).append(address)
    path = _path_back(source, edges)
    if path:
        raise ValidationError(
            f"Boucle : {' → '.join(path)}. Le courrier tournerait sans fin : retirez une de "
            "ces destinations."
        )


def _path_back(source: str, edges: dict[str, list[str]]) -> list[str] | None:
    """The first path from `source` back to itself, depth first; None when there is none."""
    stack, seen = [(source, [source])], set()
    while stack:
        node, path = stack.pop()
        for following in edges.get(node, []):
            if following == source:
                return [*path, source]
            if following not in seen:
                seen.add(following)
                stack.append((following, [*path, following]))
    return None


def _warnings(destinations: list[tuple[str, bool]]) -> list[str]:
    warnings = []
    outside = [address for address, external in destinations if external]
    if outside:
        warnings.append(SRS_WARNING.format(addresses=", ".join(outside)))
    checked_domains = set()
    for address in outside:
        domain = address.rpartition("@")[2]
        if domain not in checked_domains:
            checked_domains.add(domain)
            problem = dns.email_domain_problem(address)
            if problem:
                warnings.append(NO_MX_WARNING.format(problem=problem, address=address))
    internal = [address for address, external in destinations if not external]
    disabled = _full_address(Mailbox.objects).filter(
        full__in=internal, status=Mailbox.Status.DISABLED
    )
    for address in disabled.values_list("full", flat=True):
        warnings.append(DISABLED_WARNING.format(address=address))
    return warnings


def _mailbox_row_there(address: str) -> bool:
    try:
        return mailserver.user_row(address) is not None
    except ProvisioningError:
        return False  # the mail database is away: the worker's write checks it again


def _row_already_there(address: str) -> bool:
    try:
        return mailserver.alias_row(address) is not None
    except ProvisioningError:
        return False
