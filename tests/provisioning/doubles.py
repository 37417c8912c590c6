"""Helpers for the provisioning tests: captured task messages, a mail DB that refuses, counts."""

import copy
import socket
from contextlib import contextmanager

from celery.signals import before_task_publish
from django.db import connections

from accounts.models import Mailbox, Member
from provisioning import mailserver
from provisioning.models import ProvisioningJob

from ..base import DOMAIN, MEMBER

ADDRESS = f"{MEMBER['local_part']}@{DOMAIN}"
MAIL_TABLES = ("virtual_domains", "virtual_users", "virtual_aliases")


@contextmanager
def published_tasks():
    """Every message Celery publishes meanwhile: task name, body, headers, as handed over."""
    messages: list[dict] = []

    def receiver(sender=None, body=None, headers=None, **kwargs):
        messages.append({"task": sender, "body": body, "headers": headers, **kwargs})

    before_task_publish.connect(receiver, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(receiver)


def task_calls(messages: list[dict]) -> list[tuple[str, list, dict]]:
    """(task name, args, kwargs) of each captured message (protocol 2 body)."""
    return [(m["task"], list(m["body"][0]), dict(m["body"][1])) for m in messages]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mailserver_refusing_connections():
    """The `mailserver` alias pointed at a database that cannot be reached, then restored."""
    original = connections[mailserver.ALIAS]
    settings_dict = copy.deepcopy(original.settings_dict)
    if original.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-octopus-dir/mailserver.sqlite3"
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        settings_dict["OPTIONS"] = {**settings_dict.get("OPTIONS", {}), "connect_timeout": 2}
    broken = original.__class__(settings_dict, alias=mailserver.ALIAS)
    connections[mailserver.ALIAS] = broken
    try:
        yield
    finally:
        connections[mailserver.ALIAS] = original
        broken.close()


def mail_table_counts() -> dict[str, int]:
    with connections[mailserver.ALIAS].cursor() as cursor:
        counts = {}
        for table in MAIL_TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
            counts[table] = cursor.fetchone()[0]
    return counts


def row_counts() -> dict[str, int]:
    """Rows in the app's tables and in the mail server's: to prove nothing was written."""
    return {
        "member": Member.objects.count(),
        "mailbox": Mailbox.objects.count(),
        "job": ProvisioningJob.objects.count(),
        **mail_table_counts(),
    }
