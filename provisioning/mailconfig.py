"""The Dovecot and Postfix SQL settings that match the configured table, database and scheme.

`manage.py mailserver_config` prints them; the end-to-end tests start the real Dovecot and
Postfix with exactly these files, so the documented configuration is the tested one.
"""

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

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
DICT_HEADER = (
    "# Made by `manage.py mailserver_config` for MAILSERVER_SCHEMA={schema}.\n"
    "# Dovecot's quota dict writes each user's usage here: this role needs SELECT, INSERT,\n"
    "# UPDATE and DELETE on quota2 (and nothing else).\n"
)


# A mailbox's maildir below the mail root, as Dovecot's `mail_home = /var/vmail/%d/%n` and
# PostfixAdmin's `maildir` column name it: `domain/user/`. Nothing else is ever removed by the
# job below: no absolute path, no `..`, no empty label, no blank.
SAFE_MAILDIR = r"[a-z0-9-]+(\.[a-z0-9-]+)+/[a-z0-9]+([._-][a-z0-9]+)*/"
CRON_FILE = "octopus-erased-maildirs"  # /etc/cron.d ignores names with a dot
CRON_HEADER = (
    "# Made by `manage.py mailserver_config`: /etc/cron.d/{name} on the mail host.\n"
    "# Every night, remove the maildirs of the mailboxes whose data the app erased in the last\n"
    "# 7 days (`manage.py erasedmaildirs --since DATE`; one already gone is nothing to do).\n"
    "# Only `domain/user/` paths below {root} pass the filter: never an absolute path or `..`.\n"
    "# --app-command: how this host runs the app's manage.py (ssh, docker compose exec -T...).\n"
)


def maildir_of(address: str) -> str | None:
    """`octopus-soignies.be/pierre/` for pierre@octopus-soignies.be; None if it is not safe."""
    local_part, _at, domain = address.lower().rpartition("@")
    maildir = f"{domain}/{local_part}/"
    return maildir if re.fullmatch(SAFE_MAILDIR, maildir) else None


def default_app_command() -> str:
    """This app's manage.py as this host runs it (another host runs it through ssh or docker)."""
    return f"{sys.executable} {Path(settings.BASE_DIR) / 'manage.py'}"


def erased_maildirs_job(*, mail_root: str, app_command: str, user: str = "root") -> str:
    """The one-line cron job the mail host runs to remove the maildirs of erased mailboxes."""
    root = shlex.quote(mail_root.rstrip("/") or "/")
    return CRON_HEADER.format(name=CRON_FILE, root=root) + (
        f"17 4 * * * {user} cd {root} && {app_command} erasedmaildirs --since 7d"
        f" | grep -xE '{SAFE_MAILDIR}' | xargs -r rm -rf --\n"
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
        user_query = schema.dovecot_user_query_24.format(user="%{user}")
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
            + "# Quotas are not configured for 2.4 (its quota settings differ): see 2.3's files.\n"
            + f"sql_driver = {db.driver}\n{connect}"
            + f"passdb sql {{\n  default_password_scheme = {scheme}\n"
            + f"  query = {password_query}\n}}\n"
            + f"userdb sql {{\n  query = {user_query}\n}}\n"
        )
    connect = _dovecot_connect(db)
    return (
        HEADER.format(schema=schema.name)
        + "# Dovecot 2.3: dovecot-sql.conf.ext, named by `passdb { driver = sql  args = ... }`.\n"
        + f"driver = {db.driver}\n"
        + f"connect = {connect}\n"
        + f"default_pass_scheme = {scheme}\n"
        + f"password_query = {schema.dovecot_password_query.format(user='%u')}\n"
        + "# quota_rule: the user's quota in bytes (0: no limit), for the quota plugin.\n"
        + f"user_query = {schema.dovecot_user_query.format(user='%u')}\n"
    )


def _dovecot_connect(db: Database) -> str:
    connect = f"host={db.host} port={db.port} dbname={db.name} user={db.user}"
    return connect + (f" password={db.password}" if db.password else "")


def dovecot_dict_conf(db: Database) -> str:
    """dovecot-dict-sql.conf.ext: where Dovecot's quota dict keeps each user's usage."""
    maps = "".join(
        f"map {{\n  pattern = priv/quota/{pattern}\n  table = {mailschemas.QUOTA_TABLE}\n"
        f"  username_field = username\n  value_field = {column}\n}}\n"
        for pattern, column in (("storage", "bytes"), ("messages", "messages"))
    )
    return (
        DICT_HEADER.format(schema=mailschemas.current().name)
        + "# Dovecot 2.3: named by `dict { quota = ... }` in 90-quota.conf.\n"
        + f"connect = {_dovecot_connect(db)}\n"
        + maps
    )


def dovecot_quota_conf(db: Database, *, dovecot_dir: str, mail_user: str) -> str:
    """conf.d/90-quota.conf: the quota plugin, its limits from the user_query's quota_rule,
    and usage written by the quota dict to quota2 (the admin shows it)."""
    dict_file = f"{dovecot_dir.rstrip('/')}/dovecot-dict-sql.conf.ext"
    return (
        HEADER.format(schema=mailschemas.current().name).splitlines()[0]
        + "\n# Dovecot 2.3: conf.d/90-quota.conf. A full mailbox refuses a message at delivery\n"
        + "# (LMTP 552): the sender gets it back.\n"
        + "mail_plugins = $mail_plugins quota\n"
        + "protocol imap {\n  mail_plugins = $mail_plugins quota imap_quota\n}\n"
        + "protocol lmtp {\n  mail_plugins = $mail_plugins quota\n}\n"
        + "plugin {\n"
        + "  # Usage kept by the dict service in the table quota2 (username, bytes, messages).\n"
        + "  quota = dict:User quota::proxy::quota\n"
        + "  # The limit comes from the user_query's quota_rule (*:bytes=N; 0: no limit).\n"
        + "  quota_rule = *:bytes=0\n"
        + "  # ASCII only: it goes into the SMTP reply.\n"
        + "  quota_exceeded_message = Quota exceeded (mailbox full) - boite pleine.\n"
        + "}\n"
        + f"dict {{\n  quota = {db.driver}:{dict_file}\n}}\n"
        + f"# {mail_user}: the user that owns the mailboxes (mail_uid), which delivers mail.\n"
        + "service dict {\n  unix_listener dict {\n    mode = 0660\n"
        + f"    user = {mail_user}\n    group = {mail_user}\n  }}\n}}\n"
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


def all_files(
    db: Database,
    *,
    dovecot_version: str = "2.3",
    dovecot_dir: str = "/etc/dovecot",
    mail_user: str = "vmail",
    mail_root: str = "/var/vmail",
    app_command: str | None = None,
) -> dict[str, str]:
    cron = {
        CRON_FILE: erased_maildirs_job(
            mail_root=mail_root, app_command=app_command or default_app_command()
        )
    }
    if dovecot_version != "2.3":
        return {
            "dovecot-sql.conf": dovecot_sql_conf(db, version=dovecot_version),
            **postfix_maps(db),
            **cron,
        }
    return {
        "dovecot-sql.conf.ext": dovecot_sql_conf(db),
        "dovecot-dict-sql.conf.ext": dovecot_dict_conf(db),
        "90-quota.conf": dovecot_quota_conf(db, dovecot_dir=dovecot_dir, mail_user=mail_user),
        **postfix_maps(db),
        **cron,
    }
