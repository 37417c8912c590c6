"""Password generation and Dovecot-style `{SCHEME}hash` hashing (libpass)."""

import math
import re
import secrets

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables
from passlib.hash import argon2, bcrypt, sha256_crypt, sha512_crypt

# Lowercase letters and digits without look-alikes: no 0/o, 1/l/i.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUPS = 4
GROUP_LENGTH = 5  # 4 × 4 would give 79.3 bits over 31 symbols: one short of 80.
ENTROPY_BITS = GROUPS * GROUP_LENGTH * math.log2(len(ALPHABET))
_SHAPE = re.compile(
    rf"^[{ALPHABET}]{{{GROUP_LENGTH}}}(?:-[{ALPHABET}]{{{GROUP_LENGTH}}}){{{GROUPS - 1}}}$"
)


def _sha512(password: str) -> str:
    return sha512_crypt.using(rounds=settings.MAILSERVER_SHA_CRYPT_ROUNDS).hash(password)


def _sha256(password: str) -> str:
    return sha256_crypt.using(rounds=settings.MAILSERVER_SHA_CRYPT_ROUNDS).hash(password)


def _bcrypt(password: str) -> str:
    return bcrypt.using(rounds=settings.MAILSERVER_BCRYPT_COST, ident="2y").hash(password)


def _argon2id(password: str) -> str:
    return argon2.using(
        type="ID",
        memory_cost=settings.MAILSERVER_ARGON2_MEMORY_KIB,
        time_cost=settings.MAILSERVER_ARGON2_TIME_COST,
        parallelism=1,
    ).hash(password)


# Dovecot scheme name → (hash function, passlib handler that verifies it).
# Handlers are looked up on each call: a kept `.using(...).hash` breaks on its second call.
SCHEMES = {
    "SHA512-CRYPT": (_sha512, sha512_crypt),
    "SHA256-CRYPT": (_sha256, sha256_crypt),
    "BLF-CRYPT": (_bcrypt, bcrypt),
    "ARGON2ID": (_argon2id, argon2),
}


def check_scheme_setting() -> None:
    scheme = settings.MAILSERVER_PASSWORD_SCHEME
    if scheme not in SCHEMES:
        raise ImproperlyConfigured(
            f"MAILSERVER_PASSWORD_SCHEME={scheme!r} is not supported; "
            f"choose one of {', '.join(SCHEMES)}"
        )


def generate() -> str:
    """A new password such as `k7dmx-3qp9w-teh4n-c2rfa` (99 bits), made with `secrets`."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join(groups)


def looks_generated(text: str) -> bool:
    return bool(_SHAPE.match(text))


@sensitive_variables("password")
def hash_password(password: str, *, scheme: str | None = None) -> str:
    """`{SCHEME}hash` as Dovecot reads it from the password column."""
    scheme = scheme or settings.MAILSERVER_PASSWORD_SCHEME
    try:
        hasher, _handler = SCHEMES[scheme]
    except KeyError:
        raise ImproperlyConfigured(f"unknown password scheme {scheme!r}") from None
    return f"{{{scheme}}}{hasher(password)}"


@sensitive_variables("password")
def verify(password: str, stored: str) -> bool:
    """Whether `password` matches a `{SCHEME}hash` value; False for unknown schemes."""
    match = re.match(r"^\{([A-Z0-9-]+)\}(.+)$", stored or "")
    if not match or match.group(1) not in SCHEMES:
        return False
    _hasher, handler = SCHEMES[match.group(1)]
    return handler.verify(password, match.group(2))
