"""The mail server's SQL table that Postfix and Dovecot read, through the `mailserver` alias.

Only fixed SQL lives here and in `mailschemas`: table and column names are constants, every
value a parameter. The layout (ISPmail or PostfixAdmin) comes from MAILSERVER_SCHEMA.
"""

import logging
from contextlib import contextmanager

from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from . import mailschemas
from .exceptions import PermanentError, TransientError

logger = logging.getLogger(__name__)
ALIAS = "mailserver"


def create_tables(connection) -> None:
    """Create the schema's tables where they do not exist; never drop or alter one.

    PostfixAdmin creates its own tables: nothing is created for that schema.
    """
    dialect = mailschemas.DDL_DIALECT[connection.vendor]
    with connection.cursor() as cursor:
        for statement in mailschemas.current().create_tables:
            cursor.execute(statement.format(**dialect))


# Errors that pass: PostgreSQL SQLSTATE classes (connection, read-only transaction,
# serialization, resources, shutdown) and MySQL error numbers (read-only, lock wait, deadlock).
_TRANSIENT_SQLSTATES = ("08", "25006", "40", "53", "57P")
_TRANSIENT_MYSQL_ERRORS = {1205, 1213, 1290, 1792}


def _is_transient(exc: DatabaseError) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    mysql_errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return sqlstate.startswith(_TRANSIENT_SQLSTATES) or mysql_errno in _TRANSIENT_MYSQL_ERRORS


@contextmanager
def _gateway_errors():
    """Database errors as TransientError or PermanentError, for the worker and the admin."""
    try:
        yield
    except DatabaseError as exc:
        if _is_transient(exc):
            logger.warning("mail-server database unavailable: %s", type(exc).__name__)
            raise TransientError(
                "La base de données du serveur mail ne répond pas ou refuse les écritures pour "
                "l'instant ; nouvel essai automatique."
            ) from exc
        logger.error("mail-server database refused a statement: %s", exc)
        raise PermanentError(
            "La table du serveur mail refuse l'écriture (configuration à vérifier) : "
            f"{type(exc).__name__}."
        ) from exc


def _run(statements, params: dict) -> int:
    """Run statements in one transaction of the mail DB; rows touched by the last one."""
    with _gateway_errors(), transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, params)
        return cursor.rowcount


def _query(sql: str, params: dict) -> list[tuple]:
    with _gateway_errors(), connections[ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def user_set_password(*, address: str, password_hash: str, name: str = "", quota: int = 0) -> None:
    """Insert the user enabled (with its quota, in bytes), or replace only its `{SCHEME}hash`;
    committed on return.

    An existing row keeps its `active` flag: a job that passed its checks in the instant
    the administrator disabled the mailbox must not enable it again. It keeps its quota too:
    only `user_set_quota` changes it.
    """
    schema = mailschemas.current()
    local_part, _at, domain = address.rpartition("@")
    params = {
        "address": address,
        "password_hash": password_hash,
        "name": name,
        "local_part": local_part,
        "domain": domain,
        "maildir": f"{domain}/{local_part}/",
        "quota": quota,
    }
    touched = _run(schema.upsert_user[connections[ALIAS].vendor], params)
    if touched < 1:
        raise PermanentError(f"Le domaine {domain} est absent de la table du serveur mail.")


def users_set_passwords(users: list[dict]) -> set[str]:
    """`user_set_password` for many users, in one transaction and one statement a step
    (ISPmail: the domains, then the users; PostfixAdmin: the aliases to themselves, then the
    mailboxes); committed on return. Each user: {address, password_hash, name, quota}.

    The same rules for each row: a new row is enabled with its quota; an existing row keeps
    its `active` flag and its quota. Returns the addresses written: a user whose domain the
    table lacks is left out (the caller fails that one alone).
    """
    if not users:
        return set()
    schema = mailschemas.current()
    rows = [_user_row(user) for user in users]
    domains = sorted({row[mailschemas.USER_ROW_COLUMNS.index("domain")] for row in rows})
    with _gateway_errors(), transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            derived = _derived_table(len(chunk))
            for sql in schema.upsert_users[connections[ALIAS].vendor]:
                cursor.execute(sql.format(rows=derived), [value for row in chunk for value in row])
        cursor.execute(
            schema.select_domains.format(domains=", ".join(["%s"] * len(domains))), domains
        )
        present = {name for (name,) in cursor.fetchall()}
    return {user["address"] for user in users if user["address"].rpartition("@")[2] in present}


# SQLite joins at most 500 SELECTs in one compound statement.
_ROWS_PER_STATEMENT = 200


def _user_row(user: dict) -> tuple:
    local_part, _at, domain = user["address"].rpartition("@")
    values = {
        "address": user["address"],
        "password_hash": user["password_hash"],
        "name": user.get("name", ""),
        "local_part": local_part,
        "domain": domain,
        "maildir": f"{domain}/{local_part}/",
        "quota": int(user.get("quota", 0)),
    }
    return tuple(values[column] for column in mailschemas.USER_ROW_COLUMNS)


def _derived_table(count: int) -> str:
    """`SELECT %s AS address, ... UNION ALL SELECT %s, ...`: rows every engine can join."""
    first = ", ".join(f"%s AS {column}" for column in mailschemas.USER_ROW_COLUMNS)
    rest = ", ".join(["%s"] * len(mailschemas.USER_ROW_COLUMNS))
    return " UNION ALL ".join([f"SELECT {first}"] + [f"SELECT {rest}"] * (count - 1))


def user_set_active(*, address: str, active: bool) -> None:
    touched = _run(mailschemas.current().set_active, {"address": address, "active": active})
    if touched < 1:
        raise PermanentError(f"L'adresse {address} est absente de la table du serveur mail.")


def user_delete(*, address: str) -> bool:
    """Remove the user's row (PostfixAdmin: and its alias row), in one transaction; committed
    on return. False when there was none: a retried erasure finds it gone, no error."""
    return _run(mailschemas.current().delete_user, {"address": address}) > 0


def user_row(address: str) -> dict | None:
    """The user's row (password hash, active), for checks and tests; None if absent."""
    rows = _query(mailschemas.current().select_user, {"address": address})
    if not rows:
        return None
    email, password, active, quota = rows[0]
    return {"email": email, "password": password, "active": bool(active), "quota": int(quota)}


def domain_users(domain: str) -> dict[str, bool]:
    """Every address the table holds for a domain, with whether it may log in."""
    rows = _query(mailschemas.current().select_domain_users, {"domain": domain})
    return {address: bool(active) for address, active in rows}


def missing_columns() -> list[str]:
    """`table.column` names the configured schema needs and the mail database lacks."""
    connection = connections[ALIAS]
    missing = []
    with _gateway_errors(), connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        for table, needed in mailschemas.current().columns.items():
            if table not in tables:
                missing.append(f"{table} (table)")
                continue
            present = {
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            }
            missing += [f"{table}.{column}" for column in needed if column not in present]
    return missing


# --- Aliases --------------------------------------------------------------------------------


def alias_set(*, source: str, destinations: list[str], active: bool) -> None:
    """Replace every row of `source` with these destinations, in one transaction of the mail
    DB; committed on return. A disabled alias keeps no row where the table has no `active`.

    Refuses (PermanentError) a source that is a mailbox in the table: its mail would go
    elsewhere, and PostfixAdmin's alias of the mailbox to itself would be lost.
    """
    schema = mailschemas.current()
    vendor = connections[ALIAS].vendor
    domain = source.rpartition("@")[2]
    params = {"source": source, "domain": domain, "active": active}
    if schema.goto_joined:
        rows = [",".join(destinations)]
    else:
        rows = list(destinations) if active else []
    with _gateway_errors(), transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
        _refuse_a_mailbox(cursor, schema, source)
        for sql in schema.alias_prepare[vendor]:
            cursor.execute(sql, params)
        for goto in rows:
            cursor.execute(schema.alias_row[vendor], {**params, "goto": goto})
            if cursor.rowcount < 1:
                raise PermanentError(f"Le domaine {domain} est absent de la table du serveur mail.")


def alias_delete(*, source: str) -> None:
    """Remove every row of `source`; nothing to remove is no error. Committed on return."""
    schema = mailschemas.current()
    with _gateway_errors(), transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
        _refuse_a_mailbox(cursor, schema, source)
        for sql in schema.alias_delete:
            cursor.execute(sql, {"source": source})


def _refuse_a_mailbox(cursor, schema, source: str) -> None:
    cursor.execute(schema.select_user, {"address": source})
    if cursor.fetchone() is not None:
        raise PermanentError(
            f"{source} est une boîte aux lettres dans la table du serveur mail : "
            "l'alias n'y est pas écrit."
        )


def alias_row(source: str) -> dict | None:
    """The alias as the table holds it ({destinations, active}); None when it has no row."""
    rows = _query(mailschemas.current().select_alias, {"source": source})
    if not rows:
        return None
    destinations = [part for goto, _active in rows for part in goto.split(",") if part]
    return {"destinations": destinations, "active": all(bool(active) for _goto, active in rows)}


# --- Quotas ---------------------------------------------------------------------------------


def user_set_quota(*, address: str, quota: int) -> bool:
    """Set the user's quota in bytes (0: none); False when the table has no such user yet."""
    return _run(mailschemas.current().set_quota, {"address": address, "quota": quota}) > 0


def quota_usage(addresses: list[str]) -> dict[str, dict]:
    """{address: {bytes, messages, quota}} for the addresses Dovecot counted in quota2.

    An address without a quota2 row is absent (Dovecot has not counted it yet); so are all
    of them when the mail database has no quota2 table.
    """
    found: dict[str, dict] = {}
    for start in range(0, len(addresses), 500):
        chunk = addresses[start : start + 500]
        sql = mailschemas.current().select_usage.format(addresses=", ".join(["%s"] * len(chunk)))
        for address, quota, used, messages in _query_quota2(sql, chunk):
            found[address] = {"bytes": int(used), "messages": int(messages), "quota": int(quota)}
    return found


def users_nearly_full(*, percent: int) -> list[str]:
    """The addresses whose usage reached `percent` % of their quota, in the table's words."""
    rows = _query_quota2(mailschemas.current().select_nearly_full, {"percent": percent})
    return [address for (address,) in rows]


def _query_quota2(sql: str, params) -> list[tuple]:
    if not params:
        return []
    try:
        # In a savepoint: a missing table must not spoil a transaction around it (tests).
        with _gateway_errors(), transaction.atomic(using=ALIAS):
            with connections[ALIAS].cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
    except PermanentError as exc:
        if _missing_table(exc.__cause__):
            logger.info("no %s table in the mail database: no usage to show", "quota2")
            return []
        raise


def _missing_table(exc) -> bool:
    sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    mysql_errno = exc.args[0] if exc and exc.args and isinstance(exc.args[0], int) else None
    return sqlstate == "42P01" or mysql_errno == 1146 or "no such table" in str(exc)
