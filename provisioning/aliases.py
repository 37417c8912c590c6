"""Aliases and lists: `bureau@`, `info@`, `tresorier@` reaching one or several members, or
an outside address.

The use cases people call, keyword-only with the `actor` who asks, each recording its act:
`alias_save` creates an alias or replaces its destinations, `alias_set_active`,
`alias_delete`. Everything is checked first (aliasrules.py: invariant 5); the app's row is
the record, and the worker copies it to the mail table (provisioning.mailsync), retried
while the mail database is away (invariant 4).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Alias, AliasDestination
from audit.models import Action
from audit.services import Actor, audited

from . import selectors, tasks
from .aliasrules import CheckedAlias, alias_check, aliases_by_local_part

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AliasOutcome:
    alias: Alias
    created: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)


# --- Use cases -------------------------------------------------------------------------------


def alias_save(
    *,
    source: str,
    destinations: Iterable[str] | str,
    actor: Actor,
    active: bool | None = None,
    new: bool = False,
) -> AliasOutcome:
    """Create the alias, or replace its destinations; the worker writes the mail table.

    `active` None keeps an existing alias's state (a new one is active); `new` refuses an
    address that already is an alias.
    """
    target = (source or "").strip().lower()
    local_part, _at, domain_name = target.rpartition("@")
    exists = (
        aliases_by_local_part()
        .filter(low=local_part, domain__name=domain_name, deleted=False)
        .exists()
    )
    action = Action.ALIAS_CHANGE if exists and not new else Action.ALIAS_CREATE
    with audited(action, actor=actor, target=target) as act:
        checked = alias_check(source=source, destinations=destinations, new=new)
        act.target = checked.address
        alias, created = _write(checked, active)
        state = "" if alias.active else " (désactivé)"
        listed = ", ".join(address for address, _external in checked.destinations)
        act.detail = "; ".join([f"→ {listed}{state}", *checked.warnings])
    logger.info("alias %s saved, %s destination(s)", alias.address, len(checked.destinations))
    return AliasOutcome(alias=alias, created=created, warnings=checked.warnings)


def _write(checked: CheckedAlias, active: bool | None) -> tuple[Alias, bool]:
    now = timezone.now()
    try:
        with transaction.atomic():
            alias = checked.existing
            created = alias is None or alias.deleted
            if alias is None:
                alias = Alias.objects.create(
                    domain=checked.domain,
                    local_part=checked.local_part,
                    active=True if active is None else active,
                )
            else:
                keep = True if alias.deleted else alias.active  # a deleted one comes back active
                alias.active = keep if active is None else active
                alias.deleted = False
                Alias.objects.filter(pk=alias.pk).update(
                    active=alias.active, deleted=False, version=F("version") + 1,
                    sync_requested_at=now, sync_error="", updated_at=now,
                )  # fmt: skip
                alias.destinations.all().delete()
            AliasDestination.objects.bulk_create(
                AliasDestination(alias=alias, address=address, external=external, position=n)
                for n, (address, external) in enumerate(checked.destinations)
            )
            tasks.sync_alias.ring_on_commit(alias.pk)
    except IntegrityError:
        raise ValidationError(
            {"source": [f"L'alias {checked.address} vient d'être créé par ailleurs."]}
        ) from None
    alias.refresh_from_db()
    return alias, created


def alias_get(*, source: str) -> Alias:
    local_part, _at, domain_name = (source or "").strip().lower().rpartition("@")
    alias = (
        aliases_by_local_part()
        .select_related("domain")
        .filter(low=local_part, domain__name=domain_name, deleted=False)
        .first()
    )
    if alias is None:
        raise ValidationError(f"L'alias {local_part}@{domain_name} n'existe pas.")
    return alias


def _resolve(alias: Alias | str) -> Alias:
    return alias if isinstance(alias, Alias) else alias_get(source=alias)


def _target(alias: Alias | str) -> str:
    return alias.address if isinstance(alias, Alias) else alias.strip().lower()


def alias_set_active(*, alias: Alias | str, active: bool, actor: Actor) -> AliasOutcome:
    """Enable or disable an alias; disabled, its mail is refused (the sender is told)."""
    with audited(Action.ALIAS_CHANGE, actor=actor, target=_target(alias)) as act:
        alias = _resolve(alias)
        if alias.active == active:
            state = "actif" if active else "désactivé"
            raise ValidationError(f"L'alias {alias.address} est déjà {state}.")
        _bump(alias, active=active)
        warnings = () if active else _still_reaching(alias)
        act.detail = "; ".join(["activé" if active else "désactivé", *warnings])
    return AliasOutcome(alias=alias, created=False, warnings=warnings)


def alias_delete(*, alias: Alias | str, actor: Actor) -> Alias:
    """Delete an alias: its rows leave the mail table, then the app's row goes too."""
    with audited(Action.ALIAS_DELETE, actor=actor, target=_target(alias)) as act:
        alias = _resolve(alias)
        reaching = selectors.aliases_reaching(alias.address)
        if reaching:
            names = ", ".join(other.address for other, _via in reaching)
            raise ValidationError(
                f"{alias.address} est une destination de {names} : retirez-la de ces alias "
                "d'abord, sinon leur courrier reviendrait en erreur."
            )
        listed = ", ".join(alias.destinations.values_list("address", flat=True))
        _bump(alias, deleted=True)
        act.detail = f"→ {listed}"
    return alias


def _bump(alias: Alias, **fields) -> None:
    """A change of the record: a new version for the worker to copy to the mail table."""
    now = timezone.now()
    with transaction.atomic():
        Alias.objects.filter(pk=alias.pk).update(
            **fields, version=F("version") + 1, sync_requested_at=now, updated_at=now
        )
        tasks.sync_alias.ring_on_commit(alias.pk)
    alias.refresh_from_db()


def _still_reaching(alias: Alias) -> tuple[str, ...]:
    reaching = selectors.aliases_reaching(alias.address)
    if not reaching:
        return ()
    names = ", ".join(other.address for other, _via in reaching)
    return (
        f"{names} transmet encore à {alias.address} : cette part de leur courrier revient "
        "en erreur tant qu'il est désactivé.",
    )
