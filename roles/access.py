"""Who sees which domain: an administrator (a superuser, or the group « Administrateurs »)
every domain, anyone else only the domains entrusted to them (DomainDelegation), maybe none.

Every admin page that shows members' data asks here, through `scope()`. The answer is kept
on the user object for the rest of the request (the admin loads the user once a request).
"""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import Domain

from .groups import ADMINISTRATORS
from .models import DomainDelegation

_CACHE = "_roles_domain_ids"


def is_administrator(user) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATORS).exists()


def managed_domain_ids(user) -> frozenset[int] | None:
    """The ids of the domains `user` manages; None for an administrator (every domain)."""
    if not hasattr(user, _CACHE):
        if is_administrator(user):
            ids = None
        elif user.is_authenticated and user.is_active:
            ids = frozenset(
                DomainDelegation.objects.filter(user=user).values_list("domain_id", flat=True)
            )
        else:
            ids = frozenset()
        setattr(user, _CACHE, ids)
    return getattr(user, _CACHE)


def forget(user) -> None:
    """After a change of `user`'s roles within the request that reads them."""
    if hasattr(user, _CACHE):
        delattr(user, _CACHE)


def managed_domains(user) -> QuerySet[Domain]:
    ids = managed_domain_ids(user)
    return Domain.objects.all() if ids is None else Domain.objects.filter(pk__in=ids)


def managed_domain_names(user) -> frozenset[str] | None:
    """The names of the domains `user` manages, in lowercase; None: every domain."""
    if managed_domain_ids(user) is None:
        return None
    return frozenset(name.lower() for name in managed_domains(user).values_list("name", flat=True))


def scope(queryset: QuerySet, user, *lookups: str) -> QuerySet:
    """The rows of `queryset` in a domain `user` manages, reached through any of `lookups`
    ("domain", "mailbox__domain", "mailboxes__domain"…); each row once, whatever the path."""
    ids = managed_domain_ids(user)
    if ids is None:
        return queryset
    if not ids:
        return queryset.none()
    condition = Q()
    for lookup in lookups:
        condition |= Q(**{f"{lookup}__in": ids})
    inside = queryset.model._default_manager.filter(condition).values("pk")
    return queryset.filter(pk__in=inside)


def shows_address(names: frozenset[str] | None, address: str) -> bool:
    """Whether an address may be named to someone who manages `names` (None: every domain)."""
    return names is None or address.rpartition("@")[2].lower() in names


def hosted_elsewhere(user, addresses: list[str]) -> list[str]:
    """The addresses of a domain hosted here that `user` does not manage: they may not be
    named in their forms (nor probed: their existence is never said)."""
    names = managed_domain_names(user)
    if names is None:
        return []
    domains = {address.rpartition("@")[2].lower() for address in addresses if "@" in address}
    hosted = {name.lower() for name in Domain.objects.values_list("name", flat=True)}
    foreign = (domains & hosted) - names
    return [a for a in addresses if "@" in a and a.rpartition("@")[2].lower() in foreign]


def index_notice(user) -> str | None:
    """What the admin's index tells a non-administrator about the domains they see."""
    names = managed_domain_names(user)
    if names is None:
        return None
    if not names:
        return _(
            "Aucun domaine ne vous est confié : vous ne voyez aucune adresse, aucun membre, "
            "aucune demande ni aucun import. Un administrateur peut vous confier un domaine "
            "depuis la page de votre compte."
        )
    return _("Vos domaines : %(domains)s.") % {"domains": ", ".join(sorted(names))}
