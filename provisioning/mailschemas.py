"""The table layouts the app can write: ISPmail's and PostfixAdmin's, in each SQL dialect.

Every statement is a constant; values travel as named parameters: address, password_hash,
name, local_part, domain, maildir, active, quota, source, goto, percent (and a list of
addresses, as positional parameters, in `select_usage`; the rows of `upsert_users` and the
domains of `select_domains`, positional too). `{user}` in the mail-server queries
is filled with Dovecot's own placeholder (`%u`, or `%{user}` for Dovecot 2.4).

Aliases: ISPmail keeps one `virtual_aliases` row per destination and has no `active` column
(a disabled alias has no rows); PostfixAdmin keeps one `alias` row, `goto` comma-separated.
Quota: the users table's `quota` in bytes (0: none); usage is Dovecot's quota dict table
`quota2(username, bytes, messages)`, which Dovecot writes.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NOW = "CURRENT_TIMESTAMP"
QUOTA_TABLE = "quota2"


@dataclass(frozen=True)
class MailSchema:
    name: str
    users_table: str
    address_column: str
    # table → columns our writes and the mail server's queries need (checked at start-up)
    columns: dict[str, tuple[str, ...]]
    create_tables: tuple[str, ...]  # empty: the app never creates this schema's tables
    upsert_user: dict[str, tuple[str, ...]]  # vendor → statements; the last one's rows count
    # The same for many users at once: `{rows}` is a derived table (`USER_ROW_COLUMNS`).
    upsert_users: dict[str, tuple[str, ...]]
    select_domains: str  # which of `{domains}` (`%s, %s, ...`) the table holds
    set_active: tuple[str, ...]
    # An erased mailbox's row (and PostfixAdmin's alias of it); the last one's rows count.
    delete_user: tuple[str, ...]
    select_user: str  # (address, password, active, quota) of one address
    select_domain_users: str  # (address, active) of every user of one domain
    dovecot_password_query: str
    dovecot_user_query: str  # Dovecot 2.3: with the quota_rule
    dovecot_user_query_24: str
    # Aliases: statements before the rows (vendor → statements), then one statement a row:
    # one row per destination, or one row with `goto` comma-separated (goto_joined).
    goto_joined: bool
    alias_prepare: dict[str, tuple[str, ...]]
    alias_row: dict[str, str]
    alias_delete: tuple[str, ...]
    select_alias: str  # (goto, active) rows of one source
    set_quota: tuple[str, ...]
    select_usage: str  # (address, quota, bytes, messages); {addresses} → `%s, %s, ...`
    select_nearly_full: str  # addresses whose usage reached `percent` % of their quota
    postfix_maps: dict[str, str] = field(default_factory=dict)


_ISPMAIL_DDL = (
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
    # Dovecot's quota dict writes it (INSERT ... ON CONFLICT / ON DUPLICATE KEY on username).
    """CREATE TABLE IF NOT EXISTS quota2 (
        username VARCHAR(320) NOT NULL PRIMARY KEY,
        bytes BIGINT NOT NULL DEFAULT 0,
        messages INTEGER NOT NULL DEFAULT 0
    ){engine}""",
)
DDL_DIALECT = {
    "postgresql": {"serial": "SERIAL PRIMARY KEY", "engine": ""},
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "engine": ""},
    "mysql": {"serial": "INTEGER AUTO_INCREMENT PRIMARY KEY", "engine": " ENGINE=InnoDB"},
}

_ISPMAIL_USER = (
    "INSERT INTO virtual_users (domain_id, email, password, quota, active) "
    "SELECT id, %(address)s, %(password_hash)s, %(quota)s, TRUE FROM virtual_domains "
    "WHERE name = %(domain)s "
)
_ISPMAIL_DOMAIN = (
    "INSERT INTO virtual_domains (name) VALUES (%(domain)s) ON CONFLICT (name) DO NOTHING"
)
_ISPMAIL_UPSERT = (
    _ISPMAIL_DOMAIN,
    _ISPMAIL_USER + "ON CONFLICT (email) DO UPDATE SET password = EXCLUDED.password",
)
_ISPMAIL_DOMAIN_MYSQL = "INSERT IGNORE INTO virtual_domains (name) VALUES (%(domain)s)"
# Many users in one statement: the rows come as a derived table `v` (see USER_ROW_COLUMNS).
# `WHERE 1 = 1` keeps SQLite from reading the upsert's ON as the join's.
_ROWS = "FROM ({rows}) v"
_ISPMAIL_DOMAINS = (
    f"INSERT INTO virtual_domains (name) SELECT DISTINCT v.domain {_ROWS} WHERE 1 = 1 "
    "ON CONFLICT (name) DO NOTHING"
)
_ISPMAIL_USERS = (
    "INSERT INTO virtual_users (domain_id, email, password, quota, active) "
    f"SELECT d.id, v.address, v.password_hash, v.quota, TRUE {_ROWS} "
    "JOIN virtual_domains d ON d.name = v.domain WHERE 1 = 1 "
)
# The domain's row is locked first: two writers of one alias never mix their rows.
_ISPMAIL_LOCK = "SELECT id FROM virtual_domains WHERE name = %(domain)s FOR UPDATE"
_ISPMAIL_ALIAS_DELETE = "DELETE FROM virtual_aliases WHERE source = %(source)s"
_ISPMAIL_ALIAS_ROW = (
    "INSERT INTO virtual_aliases (domain_id, source, destination) "
    "SELECT id, %(source)s, %(goto)s FROM virtual_domains WHERE name = %(domain)s"
)
# Usage: Dovecot's quota2 row beside the limit the users table gives Dovecot.
_USAGE = (
    "SELECT u.{address}, u.quota, q.bytes, q.messages FROM {users} u "
    f"JOIN {QUOTA_TABLE} q ON q.username = u.{{address}} WHERE u.{{address}} IN ({{{{addresses}}}})"
)
_NEARLY_FULL = (
    "SELECT u.{address} FROM {users} u "
    f"JOIN {QUOTA_TABLE} q ON q.username = u.{{address}} "
    "WHERE u.quota > 0 AND q.bytes * 100 >= u.quota * %(percent)s"
)

ISPMAIL = MailSchema(
    name="ispmail",
    users_table="virtual_users",
    address_column="email",
    columns={
        "virtual_domains": ("id", "name"),
        "virtual_users": ("id", "domain_id", "email", "password", "active", "quota"),
        "virtual_aliases": ("domain_id", "source", "destination"),
    },
    create_tables=_ISPMAIL_DDL,
    upsert_user={
        "postgresql": _ISPMAIL_UPSERT,
        "sqlite": _ISPMAIL_UPSERT,
        "mysql": (
            _ISPMAIL_DOMAIN_MYSQL,
            _ISPMAIL_USER + "ON DUPLICATE KEY UPDATE password = VALUES(password)",
        ),
    },
    upsert_users={
        "postgresql": (
            _ISPMAIL_DOMAINS,
            _ISPMAIL_USERS + "ON CONFLICT (email) DO UPDATE SET password = EXCLUDED.password",
        ),
        "sqlite": (
            _ISPMAIL_DOMAINS,
            _ISPMAIL_USERS + "ON CONFLICT (email) DO UPDATE SET password = EXCLUDED.password",
        ),
        "mysql": (
            f"INSERT IGNORE INTO virtual_domains (name) SELECT DISTINCT v.domain {_ROWS}",
            _ISPMAIL_USERS + "ON DUPLICATE KEY UPDATE password = VALUES(password)",
        ),
    },
    select_domains="SELECT name FROM virtual_domains WHERE name IN ({domains})",
    set_active=("UPDATE virtual_users SET active = %(active)s WHERE email = %(address)s",),
    delete_user=("DELETE FROM virtual_users WHERE email = %(address)s",),
    select_user=(
        "SELECT email, password, active, quota FROM virtual_users WHERE email = %(address)s"
    ),
    select_domain_users=(
        "SELECT u.email, u.active FROM virtual_users u "
        "JOIN virtual_domains d ON d.id = u.domain_id WHERE d.name = %(domain)s"
    ),
    dovecot_password_query=(
        "SELECT email AS user, password FROM virtual_users WHERE email = '{user}' AND active = TRUE"
    ),
    dovecot_user_query=(
        "SELECT email AS user, CONCAT('*:bytes=', quota) AS quota_rule FROM virtual_users "
        "WHERE email = '{user}' AND active = TRUE"
    ),
    dovecot_user_query_24=(
        "SELECT email AS user FROM virtual_users WHERE email = '{user}' AND active = TRUE"
    ),
    goto_joined=False,
    alias_prepare={
        "postgresql": (_ISPMAIL_DOMAIN, _ISPMAIL_LOCK, _ISPMAIL_ALIAS_DELETE),
        "sqlite": (_ISPMAIL_DOMAIN, _ISPMAIL_ALIAS_DELETE),  # SQLite locks the whole file
        "mysql": (_ISPMAIL_DOMAIN_MYSQL, _ISPMAIL_LOCK, _ISPMAIL_ALIAS_DELETE),
    },
    alias_row={vendor: _ISPMAIL_ALIAS_ROW for vendor in ("postgresql", "sqlite", "mysql")},
    alias_delete=(_ISPMAIL_ALIAS_DELETE,),
    select_alias=(
        "SELECT destination, TRUE FROM virtual_aliases WHERE source = %(source)s ORDER BY id"
    ),
    set_quota=("UPDATE virtual_users SET quota = %(quota)s WHERE email = %(address)s",),
    select_usage=_USAGE.format(address="email", users="virtual_users"),
    select_nearly_full=_NEARLY_FULL.format(address="email", users="virtual_users"),
    postfix_maps={
        "virtual_mailbox_domains": "SELECT 1 FROM virtual_domains WHERE name = '%s'",
        "virtual_mailbox_maps": (
            "SELECT 1 FROM virtual_users WHERE email = '%s' AND active = TRUE"
        ),
        "virtual_alias_maps": "SELECT destination FROM virtual_aliases WHERE source = '%s'",
    },
)

# PostfixAdmin owns its tables and its domains: we write the mailbox row and the alias of
# the address to itself (as PostfixAdmin's own "add mailbox" does), nothing else.
_PFA_ALIAS = (
    "INSERT {ignore}INTO alias (address, goto, domain, created, modified, active) "
    f"SELECT %(address)s, %(address)s, domain, {NOW}, {NOW}, TRUE FROM domain "
    "WHERE domain = %(domain)s {on_conflict}"
)
_PFA_MAILBOX = (
    "INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain, "
    "created, modified, active) "
    "SELECT %(address)s, %(password_hash)s, %(name)s, %(maildir)s, %(quota)s, %(local_part)s, "
    "domain, "
    f"{NOW}, {NOW}, TRUE FROM domain WHERE domain = %(domain)s "
)
_PFA_UPSERT = (
    _PFA_ALIAS.format(ignore="", on_conflict="ON CONFLICT (address) DO NOTHING"),
    _PFA_MAILBOX
    + "ON CONFLICT (username) DO UPDATE SET password = EXCLUDED.password, "
    + f"modified = {NOW}",
)


def _pfa_aliases(ignore: str = "", on_conflict: str = "") -> str:
    return (
        f"INSERT {ignore}INTO alias (address, goto, domain, created, modified, active) "
        f"SELECT v.address, v.address, d.domain, {NOW}, {NOW}, TRUE {_ROWS} "
        f"JOIN domain d ON d.domain = v.domain WHERE 1 = 1 {on_conflict}"
    )


_PFA_MAILBOXES = (
    "INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain, "
    "created, modified, active) "
    "SELECT v.address, v.password_hash, v.name, v.maildir, v.quota, v.local_part, d.domain, "
    f"{NOW}, {NOW}, TRUE {_ROWS} JOIN domain d ON d.domain = v.domain WHERE 1 = 1 "
)
_PFA_UPSERTS = (
    _pfa_aliases(on_conflict="ON CONFLICT (address) DO NOTHING"),
    _PFA_MAILBOXES
    + f"ON CONFLICT (username) DO UPDATE SET password = EXCLUDED.password, modified = {NOW}",
)
# An alias of its own (never a mailbox's alias to itself: the gateway checks it first).
_PFA_ALIAS_ROW = (
    "INSERT INTO alias (address, goto, domain, created, modified, active) "
    f"SELECT %(source)s, %(goto)s, domain, {NOW}, {NOW}, %(active)s FROM domain "
    "WHERE domain = %(domain)s "
)
_PFA_ALIAS_UPSERT = _PFA_ALIAS_ROW + (
    "ON CONFLICT (address) DO UPDATE SET goto = EXCLUDED.goto, active = EXCLUDED.active, "
    f"modified = {NOW}"
)

POSTFIXADMIN = MailSchema(
    name="postfixadmin",
    users_table="mailbox",
    address_column="username",
    columns={
        "domain": ("domain", "active"),
        "mailbox": (
            "username",
            "password",
            "name",
            "maildir",
            "quota",
            "local_part",
            "domain",
            "created",
            "modified",
            "active",
        ),
        "alias": ("address", "goto", "domain", "created", "modified", "active"),
    },  # fmt: skip
    create_tables=(),
    upsert_user={
        "postgresql": _PFA_UPSERT,
        "sqlite": _PFA_UPSERT,
        "mysql": (
            _PFA_ALIAS.format(ignore="IGNORE ", on_conflict=""),
            _PFA_MAILBOX
            + "ON DUPLICATE KEY UPDATE password = VALUES(password), "
            + f"modified = {NOW}",
        ),
    },
    upsert_users={
        "postgresql": _PFA_UPSERTS,
        "sqlite": _PFA_UPSERTS,
        "mysql": (
            _pfa_aliases(ignore="IGNORE "),
            _PFA_MAILBOXES
            + f"ON DUPLICATE KEY UPDATE password = VALUES(password), modified = {NOW}",
        ),
    },
    select_domains="SELECT domain FROM domain WHERE domain IN ({domains})",
    set_active=(
        f"UPDATE alias SET active = %(active)s, modified = {NOW} "
        "WHERE address = %(address)s AND goto = %(address)s",
        f"UPDATE mailbox SET active = %(active)s, modified = {NOW} WHERE username = %(address)s",
    ),
    # As PostfixAdmin's own deletion: the mailbox's alias row goes with it, whatever its goto
    # (a forward set in PostfixAdmin makes it `pierre@…,elsewhere@…`). The app writes alias
    # rows only for sources that are not mailboxes, so this row is the mailbox's own.
    delete_user=(
        "DELETE FROM alias WHERE address = %(address)s",
        "DELETE FROM mailbox WHERE username = %(address)s",
    ),
    select_user=(
        "SELECT username, password, active, quota FROM mailbox WHERE username = %(address)s"
    ),
    select_domain_users="SELECT username, active FROM mailbox WHERE domain = %(domain)s",
    dovecot_password_query=(
        "SELECT username AS user, password FROM mailbox WHERE username = '{user}' AND active = TRUE"
    ),
    dovecot_user_query=(
        "SELECT username AS user, CONCAT('*:bytes=', quota) AS quota_rule FROM mailbox "
        "WHERE username = '{user}' AND active = TRUE"
    ),
    dovecot_user_query_24=(
        "SELECT username AS user FROM mailbox WHERE username = '{user}' AND active = TRUE"
    ),
    goto_joined=True,
    alias_prepare={"postgresql": (), "sqlite": (), "mysql": ()},
    alias_row={
        "postgresql": _PFA_ALIAS_UPSERT,
        "sqlite": _PFA_ALIAS_UPSERT,
        "mysql": _PFA_ALIAS_ROW
        + "ON DUPLICATE KEY UPDATE goto = VALUES(goto), active = VALUES(active), "
        + f"modified = {NOW}",
    },
    alias_delete=("DELETE FROM alias WHERE address = %(source)s",),
    select_alias="SELECT goto, active FROM alias WHERE address = %(source)s",
    set_quota=(
        f"UPDATE mailbox SET quota = %(quota)s, modified = {NOW} WHERE username = %(address)s",
    ),
    select_usage=_USAGE.format(address="username", users="mailbox"),
    select_nearly_full=_NEARLY_FULL.format(address="username", users="mailbox"),
    postfix_maps={
        "virtual_mailbox_domains": (
            "SELECT domain FROM domain WHERE domain = '%s' AND active = TRUE"
        ),
        "virtual_mailbox_maps": (
            "SELECT maildir FROM mailbox WHERE username = '%s' AND active = TRUE"
        ),
        "virtual_alias_maps": "SELECT goto FROM alias WHERE address = '%s' AND active = TRUE",
    },
)

# The columns of one row of `upsert_users`, in order.
USER_ROW_COLUMNS = ("address", "password_hash", "name", "local_part", "domain", "maildir", "quota")

SCHEMAS = {schema.name: schema for schema in (ISPMAIL, POSTFIXADMIN)}


def current() -> MailSchema:
    try:
        return SCHEMAS[settings.MAILSERVER_SCHEMA]
    except KeyError:
        raise ImproperlyConfigured(
            f"MAILSERVER_SCHEMA={settings.MAILSERVER_SCHEMA!r}: choose one of {', '.join(SCHEMAS)}"
        ) from None
