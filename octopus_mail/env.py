"""Strict readers for environment variables: a typo fails at start-up, never silently."""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_email_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """The value (empty counts as unset), or the content of the file named by NAME_FILE."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            message = f"{name}_FILE: cannot read {file_name!r} ({exc.strerror})"
            raise ImproperlyConfigured(message) from None
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_email_url(name: str) -> dict:
    """Django's EMAIL_* settings from an email URL (dj-email-url), {} when it is unset.

    An unknown scheme, or a port or timeout that is not a number, stops the start-up with the
    variable's name (never the URL: it may hold the SMTP password). `file:///abs/dir` gives
    EMAIL_FILE_PATH `/abs/dir` (dj-email-url would drop its first slash).
    """
    url = env_str(name)
    if not url:
        return {}
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in dj_email_url.SCHEMES:
            accepted = ", ".join(f"{known}://" for known in dj_email_url.SCHEMES)
            raise ImproperlyConfigured(
                f"{name}: unknown scheme {parts.scheme!r}; use one of {accepted}"
            )
        email = dj_email_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} cannot be read: {exc}") from None
    is_file = parts.scheme.lower() == "file"
    email["EMAIL_FILE_PATH"] = unquote(parts.netloc + parts.path) if is_file else ""
    return email


def cache_from_url(url: str, timeout: float = 1) -> dict:
    """Django's CACHES entry for `redis://[:password@]host[:port][/db]` (`rediss://` for
    TLS) or `locmem://`; anything else is an ImproperlyConfigured that never repeats the URL,
    which may hold a password. `timeout`: seconds to connect and to wait for each answer."""
    parts = urlsplit(url)
    if parts.scheme == "locmem":
        locmem = "django.core.cache.backends.locmem.LocMemCache"
        return {"BACKEND": locmem, "LOCATION": parts.netloc}
    if parts.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(
            f"CACHE_URL: unknown scheme {parts.scheme + '://' if parts.scheme else '(none)'}; "
            "accepted: redis://, rediss://, locmem://"
        )
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    db = parts.path.removeprefix("/")
    if not (parts.hostname and port_ok and (db == "" or db.isdigit())) or parts.query:
        raise ImproperlyConfigured(
            f"CACHE_URL: expected {parts.scheme}://[:password@]host[:port][/db], with a "
            "numeric port and database and no query string"
        )
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
    }
