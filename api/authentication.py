"""`Authorization: Bearer TOKEN`: the token is looked up by its SHA-256 digest."""

import logging
from datetime import timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import Domain
from octopus_mail.security import client_ip

from .models import ApiToken
from .services import secret_digest

log = logging.getLogger(__name__)
# Seconds between two writes of `last_used_at`: the column says "used today", not every call.
LAST_USED_RESOLUTION = 60
MISSING = "Jeton manquant : envoyez l'en-tête « Authorization: Bearer VOTRE_JETON »."
MALFORMED = "En-tête Authorization mal formé : « Authorization: Bearer VOTRE_JETON » attendu."
UNKNOWN = "Jeton inconnu."


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # NotAuthenticated: 401 with WWW-Authenticate
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(MALFORMED)
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(MALFORMED) from None
        domains = Prefetch("domains", queryset=Domain.objects.only("id", "name"))
        token = ApiToken.objects.prefetch_related(domains).filter(key_hash=secret_digest(secret))
        token = token.first()
        if token is None:
            # No audit record: nobody to name, and a stranger's guesses must write nothing.
            log.warning("API: unknown token from %s", client_ip(request))
            raise exceptions.AuthenticationFailed(UNKNOWN)
        now = timezone.now()
        refusal = token.refusal(now)
        if refusal:
            request._request.api_refused_token = token  # the audit names who was refused
            raise exceptions.AuthenticationFailed(refusal)
        touch(token, now)
        return token, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def touch(token: ApiToken, now) -> None:
    """Record the use, at most once a minute (one conditional UPDATE, no race)."""
    stale = now - timedelta(seconds=LAST_USED_RESOLUTION)
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)).filter(
        pk=token.pk
    ).update(last_used_at=now)
    token.last_used_at = now
