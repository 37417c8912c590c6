"""The Dovecot and Postfix SQL settings that match the configured table, database and scheme.

`manage.py mailserver_config` prints them; the end-to-end tests start the real Dovecot and
Postfix with exactly these files, so the documented configuration is the tested one.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from . import mailschemas
from .mailserver import ALIAS

DRIVERS = {"postgresql": "pgsql", "mysql": "mysql"}
DEFAULT_PORTS = {"pgsql": 5432, "mysql": 3306}
HEADER = (
    "# Made by `manage.py mailserver_config` for MAILSERVER_SCHEMA={schema}.\n"
    "# Give Dovecot and Postfix a database role that may only SELECT these tables.\n"
)


class UnsupportedDatabase(Exception):
    pass


@dataclass(frozen=True)
class Database:
    driver: str  # pgsql or mysql, as Dovecot and Postfix name them
    host: str
    port: int
    name: str
    user: str
    password: str


def mail_database(*, user: str | None = None, password: str | None = None) -> Database:
    config = connections[ALIAS].settings_dict
    driver = DRIVERS.get(connections[ALIAS].vendor)
    if driver is None:
        raise UnsupportedDatabase(
            f"Dovecot et Postfix ne peuvent pas lire cette base ({connections[ALIAS].vendor}) : "
            "utilisez PostgreSQL ou MariaDB/MySQL pour MAILSERVER_DATABASE_URL."
        )
    return Database(
        driver=driver,
        host=config.get("HOST") or "127.0.0.1",
        port=int(config.get("PORT") or DEFAULT_PORTS[driver]),
        name=config["NAME"],
        user=config.get("USER", "") if user is None else user,
        password=config.get("PASSWORD", "") if password is None else password,
    )


def dovecot_sql_conf(db: Database, *, version: str = "2.3") -> str:
    schema = mailschemas.current()
    scheme = settings.MAILSERVER_PASSWORD_SCHEME
    if version == "2.4":
        password_query = schema.dovecot_password_query.format(user="%{user}")
        user_query = schema.dovecot_user_query.format(user="%{user}")
        if db.driver == "pgsql":
            connect = (
                f"pgsql {db.host} {{\n  parameters {{\n    port = {db.port}\n"
                f"    dbname = {db.name}\n    user = {db.user}\n"
                f"    password = {db.password}\n  }}\n}}\n"
            )
        else:
            connect = (
                f"mysql {db.host} {{\n  port = {db.port}\n  dbname = {db.name}\n"
                f"  user = {db.user}\n  password = {db.password}\n}}\n"
            )
        return (
            HEADER.format(schema=schema.name)
            + "# Dovecot 2.4: include from dovecot.conf (untested here: Debian 12 ships 2.3).\n"
            + f"sql_driver = {db.driver}\n{connect}"
            + f"passdb sql {{\n  default_password_scheme = {scheme}\n"
            + f"  query = {password_query}\n}}\n"
            + f"userdb sql {{\n  query = {user_query}\n}}\n"
        )
    connect = f"host={db.host} port={db.port} dbname={db.name} user={db.user}"
    if db.password:
        connect += f" password={db.password}"
    return (
        HEADER.format(schema=schema.name)
        + "# Dovecot 2.3: dovecot-sql.conf.ext, named by `passdb { driver = sql  args = ... }`.\n"
        + f"driver = {db.driver}\n"
        + f"connect = {connect}\n"
        + f"default_pass_scheme = {scheme}\n"
        + f"password_query = {schema.dovecot_password_query.format(user='%u')}\n"
        + f"user_query = {schema.dovecot_user_query.format(user='%u')}\n"
    )


def postfix_maps(db: Database) -> dict[str, str]:
    """File name → content of each map, for `<driver>:/etc/postfix/<name>.cf` in main.cf."""
    schema = mailschemas.current()
    header = HEADER.format(schema=schema.name)
    maps = {}
    for name, query in schema.postfix_maps.items():
        maps[f"{name}.cf"] = (
            f"{header}# main.cf: {name} = {db.driver}:/etc/postfix/{name}.cf\n"
            f"hosts = {db.host}:{db.port}\n"
            f"user = {db.user}\n"
            f"password = {db.password}\n"
            f"dbname = {db.name}\n"
            f"query = {query}\n"
        )
    return maps


def all_files(db: Database, *, dovecot_version: str = "2.3") -> dict[str, str]:
    dovecot_name = "dovecot-sql.conf.ext" if dovecot_version == "2.3" else "dovecot-sql.conf"
    return {dovecot_name: dovecot_sql_conf(db, version=dovecot_version), **postfix_maps(db)}
