"""PostfixAdmin's own tables (3.3 layout, the columns its UI reads), as PostfixAdmin creates them.

The app never creates these: in production PostfixAdmin's setup does. Tests make them here.
"""

_TYPES = {
    "postgresql": {
        "bool": "BOOLEAN", "true": "TRUE", "false": "FALSE",
        "ts": "TIMESTAMP WITH TIME ZONE", "engine": "",
    },
    "mysql": {
        "bool": "TINYINT(1)", "true": "1", "false": "0",
        "ts": "DATETIME", "engine": " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    },
    "sqlite": {"bool": "BOOLEAN", "true": "1", "false": "0", "ts": "DATETIME", "engine": ""},
}  # fmt: skip

_TABLES = (
    """CREATE TABLE domain (
        domain VARCHAR(255) NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL DEFAULT '',
        aliases INTEGER NOT NULL DEFAULT 0,
        mailboxes INTEGER NOT NULL DEFAULT 0,
        maxquota BIGINT NOT NULL DEFAULT 0,
        quota BIGINT NOT NULL DEFAULT 0,
        transport VARCHAR(255) DEFAULT NULL,
        backupmx {bool} NOT NULL DEFAULT {false},
        created {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        modified {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        active {bool} NOT NULL DEFAULT {true}
    ){engine}""",
    """CREATE TABLE mailbox (
        username VARCHAR(255) NOT NULL PRIMARY KEY,
        password VARCHAR(255) NOT NULL,
        name VARCHAR(255) NOT NULL DEFAULT '',
        maildir VARCHAR(255) NOT NULL,
        quota BIGINT NOT NULL DEFAULT 0,
        local_part VARCHAR(255) NOT NULL,
        domain VARCHAR(255) NOT NULL REFERENCES domain(domain),
        created {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        modified {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        active {bool} NOT NULL DEFAULT {true},
        phone VARCHAR(30) NOT NULL DEFAULT '',
        email_other VARCHAR(255) NOT NULL DEFAULT '',
        token VARCHAR(255) NOT NULL DEFAULT '',
        token_validity {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        password_expiry {ts} NOT NULL DEFAULT '2000-01-01 00:00:00'
    ){engine}""",
    """CREATE TABLE alias (
        address VARCHAR(255) NOT NULL PRIMARY KEY,
        goto TEXT NOT NULL,
        domain VARCHAR(255) NOT NULL REFERENCES domain(domain),
        created {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        modified {ts} NOT NULL DEFAULT '2000-01-01 00:00:00',
        active {bool} NOT NULL DEFAULT {true}
    ){engine}""",
    # Dovecot's quota dict table, as PostfixAdmin's setup creates it for Dovecot to write.
    """CREATE TABLE quota2 (
        username VARCHAR(255) NOT NULL PRIMARY KEY,
        bytes BIGINT NOT NULL DEFAULT 0,
        messages INTEGER NOT NULL DEFAULT 0
    ){engine}""",
)
TABLES = ("quota2", "alias", "mailbox", "domain")


def drop_tables(connection) -> None:
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - fixed names


def create_tables(connection, *, domains=("octopus-soignies.be",)) -> None:
    """Fresh PostfixAdmin tables, with the domains PostfixAdmin's administrator would add."""
    drop_tables(connection)
    types = _TYPES[connection.vendor]
    with connection.cursor() as cursor:
        for statement in _TABLES:
            cursor.execute(statement.format(**types))
        for domain in domains:
            cursor.execute(
                "INSERT INTO domain (domain, description, created, modified) "
                "VALUES (%s, %s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                [domain, "Octopus-Soignies"],
            )
