"""Point the gateway at one mail-server engine and one table layout, for contract tests."""

from contextlib import contextmanager

from django.db import connections
from django.test import override_settings

from provisioning import mailserver

from .fakes import postfixadmin
from .services import require_mariadb

# engine label → the test database alias that holds it
ENGINES = {"main": mailserver.ALIAS, "mariadb": "mailserver_mariadb"}
ISPMAIL_TABLES = ("quota2", "virtual_aliases", "virtual_users", "virtual_domains")


def drop_ispmail_tables(connection) -> None:
    with connection.cursor() as cursor:
        for table in ISPMAIL_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - fixed names


@contextmanager
def mail_database(engine: str, schema: str):
    """The `mailserver` alias served by `engine`'s database, with fresh `schema` tables."""
    if engine == "mariadb":
        require_mariadb()
    original = connections[mailserver.ALIAS]
    connection = connections[ENGINES[engine]]
    connections[mailserver.ALIAS] = connection
    try:
        with override_settings(MAILSERVER_SCHEMA=schema):
            reset_tables(connection)
            if schema == "postfixadmin":
                postfixadmin.create_tables(connection)
            yield connection
    finally:
        connections[mailserver.ALIAS] = original
        reset_tables(connection)  # as migrate left them, for the tests that follow


def reset_tables(connection) -> None:
    """Empty ISPmail tables (what `migrate --database mailserver` makes), no PostfixAdmin's."""
    drop_ispmail_tables(connection)
    postfixadmin.drop_tables(connection)
    with override_settings(MAILSERVER_SCHEMA="ispmail"):
        mailserver.create_tables(connection)
