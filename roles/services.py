"""The use case of the user page's roles: a user's groups and entrusted domains, recorded."""

from django.db import transaction

from accounts.models import Domain
from audit.models import Action
from audit.services import Actor, audit_record

from . import access
from .models import DomainDelegation


def user_roles_set(*, user, groups, domains, actor: Actor) -> None:
    """Give `user` exactly these groups and entrusted domains; each kind of change is one
    audit record (what was added, what was taken away), none when nothing changed."""
    with transaction.atomic():
        groups_before = set(user.groups.values_list("name", flat=True))
        domains_before = set(
            DomainDelegation.objects.filter(user=user).values_list("domain__name", flat=True)
        )
        user.groups.set(groups)
        domains = list(domains)
        DomainDelegation.objects.filter(user=user).exclude(domain__in=domains).delete()
        for domain in domains:
            DomainDelegation.objects.get_or_create(user=user, domain=domain)
        groups_after = set(user.groups.values_list("name", flat=True))
        domains_after = set(
            Domain.objects.filter(delegations__user=user).values_list("name", flat=True)
        )
        changes = [
            (Action.USER_GROUPS_CHANGE, groups_before, groups_after),
            (Action.USER_DOMAINS_CHANGE, domains_before, domains_after),
        ]
        for action, before, after in changes:
            if before != after:
                audit_record(
                    actor=actor, action=action, target=user.get_username(),
                    detail=_describe(before, after),
                )  # fmt: skip
    access.forget(user)


def _describe(before: set[str], after: set[str]) -> str:
    """`ajouté : Gestionnaires ; retiré : Administrateurs`."""
    parts = []
    for label, names in (("ajouté", after - before), ("retiré", before - after)):
        if names:
            parts.append(f"{label} : {', '.join(sorted(names))}")
    return " ; ".join(parts)
