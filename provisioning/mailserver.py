"""The mail server's SQL table that Postfix and Dovecot read, through the `mailserver` alias.

Only fixed SQL lives here: table and column names are constants, every value a parameter.
"""

import logging
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from .exceptions import PermanentError, TransientError

logger = logging.getLogger(__name__)
ALIAS = "mailserver"

_ISPMAIL_TABLES = (
    """CREATE TABLE IF NOT EXISTS virtual_domains (
        id {serial},
        name VARCHAR(253) NOT NULL UNIQUE
    ){engine}""",
    """CREATE TABLE IF NOT EXISTS virtual_users (
        id {serial},
        domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
        email VARCHAR(320) NOT NULL UNIQUE,
        password VARCHAR(255) NOT NULL,
        quota BIGINT NOT NULL DEFAULT 0,
        active BOOLEAN NOT NULL DEFAULT TRUE
    ){engine}""",
    """CREATE TABLE IF NOT EXISTS virtual_aliases (
        id {serial},
        domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
        source VARCHAR(320) NOT NULL,
        destination VARCHAR(320) NOT NULL
    ){engine}""",
)
_DIALECT = {
    "postgresql": {"serial": "SERIAL PRIMARY KEY", "engine": ""},
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "engine": ""},
    "mysql": {"serial": "INTEGER AUTO_INCREMENT PRIMARY KEY", "engine": " ENGINE=InnoDB"},
}
_UPSERT_DOMAIN = {
    "postgresql": "INSERT INTO virtual_domains (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
    "sqlite": "INSERT INTO virtual_domains (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
    "mysql": "INSERT IGNORE INTO virtual_domains (name) VALUES (%s)",
}
_UPSERT_USER = {
    "postgresql": (
        "INSERT INTO virtual_users (domain_id, email, password, active) "
        "SELECT id, %s, %s, TRUE FROM virtual_domains WHERE name = %s "
        "ON CONFLICT (email) DO UPDATE SET password = EXCLUDED.password, active = TRUE"
    ),
    "mysql": (
        "INSERT INTO virtual_users (domain_id, email, password, active) "
        "SELECT id, %s, %s, TRUE FROM virtual_domains WHERE name = %s "
        "ON DUPLICATE KEY UPDATE password = VALUES(password), active = TRUE"
    ),
}
_UPSERT_USER["sqlite"] = _UPSERT_USER["postgresql"]


def create_tables(connection) -> None:
    """Create the ISPmail tables where they do not exist; never drop or alter one."""
    if settings.MAILSERVER_SCHEMA != "ispmail":
        return
    dialect = _DIALECT[connection.vendor]
    with connection.cursor() as cursor:
        for statement in _ISPMAIL_TABLES:
            cursor.execute(statement.format(**dialect))


def _run(statements: list[tuple[str, list]]) -> int:
    """Run statements in one transaction of the mail DB; rows touched by the last one."""
    with _gateway_errors(), transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        return cursor.rowcount


@contextmanager
def _gateway_errors():
    """Database errors as TransientError or PermanentError, for the worker and the admin."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        logger.warning("mail-server database unavailable: %s", type(exc).__name__)
        raise TransientError(
            "La base de données du serveur mail ne répond pas ; nouvel essai automatique."
        ) from exc
    except DatabaseError as exc:
        logger.error("mail-server database refused a statement: %s", exc)
        raise PermanentError(
            "La table du serveur mail refuse l'écriture (configuration à vérifier) : "
            f"{type(exc).__name__}."
        ) from exc


def user_set_password(*, address: str, password_hash: str) -> None:
    """Insert or update the user's `{SCHEME}hash`, enabled; committed when this returns."""
    vendor = connections[ALIAS].vendor
    domain = address.rpartition("@")[2]
    touched = _run(
        [
            (_UPSERT_DOMAIN[vendor], [domain]),
            (_UPSERT_USER[vendor], [address, password_hash, domain]),
        ]
    )
    if touched < 1:
        raise PermanentError(f"Le domaine {domain} est absent de la table du serveur mail.")


def user_set_active(*, address: str, active: bool) -> None:
    touched = _run([("UPDATE virtual_users SET active = %s WHERE email = %s", [active, address])])
    if touched < 1:
        raise PermanentError(f"L'adresse {address} est absente de la table du serveur mail.")


def user_row(address: str) -> dict | None:
    """The user's row (password hash, active), for checks and tests; None if absent."""
    with _gateway_errors(), connections[ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT email, password, active FROM virtual_users WHERE email = %s", [address]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return {"email": row[0], "password": row[1], "active": bool(row[2])}
