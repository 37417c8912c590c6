"""API tokens' use cases: issue one (shown once, stored as a digest) and revoke it.

Called by the admin page and by `createapitoken`; each records its own act (invariant 8),
never the token itself.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, audited

from .models import ApiToken, Scope

SECRET_PREFIX = "om_"  # tells a leaked octopus-mail token apart in a log or a scanner
SHOWN_PREFIX_LENGTH = len(SECRET_PREFIX) + 8  # what the admin lists, to recognise a token
DEFAULT_LIFETIME_DAYS = 365
MAX_LIFETIME_DAYS = 3 * 365
NAME_MAX = ApiToken._meta.get_field("name").max_length


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once to whoever asked, then only its digest exists


def secret_digest(secret: str) -> str:
    """SHA-256: the secret has 256 random bits, a slow hash would add nothing but latency."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_validate(*, name: str, scopes, expires_in_days) -> dict:
    """Every field checked before anything is written; errors keyed by field, in French."""
    errors: dict[str, list[str]] = {}
    cleaned = {"name": (name or "").strip(), "scopes": sorted(set(scopes or []))}
    if not cleaned["name"]:
        errors["name"] = ["Donnez un nom au jeton : il désigne son usage dans le journal d'audit."]
    elif len(cleaned["name"]) > NAME_MAX or not cleaned["name"].isprintable():
        errors["name"] = [f"Un nom de {NAME_MAX} caractères au plus, sans caractère de contrôle."]
    elif ApiToken.objects.filter(name=cleaned["name"]).exists():
        errors["name"] = [f"Un jeton s'appelle déjà « {cleaned['name']} »."]
    unknown = [scope for scope in cleaned["scopes"] if scope not in Scope.values]
    choices = f"Choisissez parmi : {', '.join(Scope.values)}."
    if unknown:
        errors["scopes"] = [f"Droits inconnus : {', '.join(unknown)}. {choices}"]
    elif not cleaned["scopes"]:
        errors["scopes"] = [f"Donnez au moins un droit. {choices}"]
    try:
        days = int(expires_in_days)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        errors["expires_in_days"] = [
            f"Une durée de validité de 1 à {MAX_LIFETIME_DAYS} jours (par défaut "
            f"{DEFAULT_LIFETIME_DAYS})."
        ]
    if errors:
        raise ValidationError(errors)
    cleaned["expires_in_days"] = days
    return cleaned


def api_token_create(
    *, name: str, scopes, domains=(), expires_in_days=DEFAULT_LIFETIME_DAYS, actor: Actor
) -> IssuedToken:
    """A new token; its secret is in the outcome and nowhere else."""
    with audited(Action.API_TOKEN_CREATE, actor=actor, target=(name or "").strip()) as act:
        data = api_token_validate(name=name, scopes=scopes, expires_in_days=expires_in_days)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    name=data["name"],
                    prefix=secret[:SHOWN_PREFIX_LENGTH],
                    key_hash=secret_digest(secret),
                    scopes=data["scopes"],
                    domains_limited=bool(domains),
                    expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
                    created_by=actor.user,
                )
                token.domains.set(domains)
        except IntegrityError:
            raise ValidationError(
                {"name": [f"Un jeton s'appelle déjà « {data['name']} »."]}
            ) from None
        names = ", ".join(sorted(domain.name for domain in domains)) or "tous"
        act.detail = (
            f"jeton {token.prefix}… ; droits : {', '.join(data['scopes'])} ; domaines : {names} ; "
            f"valable {data['expires_in_days']} jours"
        )
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, token: ApiToken, actor: Actor) -> ApiToken:
    """Refused from its next call on; kept, with its history, for the audit trail."""
    with audited(Action.API_TOKEN_REVOKE, actor=actor, target=token.name) as act:
        now = timezone.now()
        if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            raise ValidationError(f"Le jeton « {token.name} » est déjà révoqué.")
        token.revoked_at = now
        act.detail = f"jeton {token.prefix}…"
    return token
