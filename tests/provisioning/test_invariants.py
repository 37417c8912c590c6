"""Invariant 1: the password lives in the SMS and nowhere else we control."""

import logging

from django.core import mail
from django.db import connections

from accounts.models import Mailbox
from provisioning import services

from ..base import TEST_ACTOR, OctopusTestCase, create_pierre, deliver, send_email, sms_passwords
from .doubles import published_tasks, task_calls


class PasswordNeverLeaksTests(OctopusTestCase):
    """A creation, its email, a reset and its email: then look everywhere for the passwords."""

    def run_create_then_reset(self) -> list[str]:
        with self.captureOnCommitCallbacks(execute=True):
            job = create_pierre()
        with self.captureOnCommitCallbacks(execute=True):
            job = deliver(job)
        with self.captureOnCommitCallbacks(execute=True):
            send_email(job)
        with self.captureOnCommitCallbacks(execute=True):
            reset = services.mailbox_password_reset(
                mailbox=Mailbox.objects.get(), actor=TEST_ACTOR
            ).job
        with self.captureOnCommitCallbacks(execute=True):
            reset = deliver(reset)
        with self.captureOnCommitCallbacks(execute=True):
            send_email(reset)
        found = sms_passwords()
        self.assertEqual(len(set(found)), 2)  # otherwise the searches below prove nothing
        return found

    def test_it_never_puts_the_password_in_task_args(self):
        with published_tasks() as published:
            found = self.run_create_then_reset()
        calls = task_calls(published)
        self.assertEqual(
            [name for name, _args, _kwargs in calls],
            ["provisioning.deliver_password", "provisioning.send_job_email"] * 2,
        )
        for _name, args, kwargs in calls:
            self.assertEqual((len(args), kwargs), (1, {}))
            self.assertIsInstance(args[0], int)
        for message in published:
            for password in found:
                self.assertNotIn(password, repr(message))

    def test_it_never_stores_the_password_in_the_app_database(self):
        found = self.run_create_then_reset()
        for alias in ("default", "mailserver"):
            cells = list(all_cells(alias))
            self.assertGreater(len(cells), 10, alias)
            for table, cell in cells:
                for password in found:
                    self.assertNotIn(password, cell, f"{alias}.{table}")

    def test_it_never_logs_the_password(self):
        with every_log_record() as lines:
            found = self.run_create_then_reset()
        self.assertTrue(any("created, job" in line for line in lines))  # the capture works
        self.assertTrue(any("INSERT INTO" in line for line in lines))  # SQL included
        for line in lines:
            for password in found:
                self.assertNotIn(password, line)

    def test_it_never_emails_the_password(self):
        found = self.run_create_then_reset()
        self.assertEqual(len(mail.outbox), 2)
        for message in mail.outbox:
            parts = [message.subject, message.body, *(c for c, _type in message.alternatives)]
            self.assertEqual(len(parts), 3)
            for part in parts:
                for password in found:
                    self.assertNotIn(password, part)


def all_cells(alias: str):
    """(table, text of one cell) for every cell of every table of a database."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    yield table, str(value)


class every_log_record:  # noqa: N801 - used like a function in a with statement
    """Every record any logger emits meanwhile, formatted, SQL statements included."""

    def __enter__(self) -> list[str]:
        self.lines: list[str] = []
        self.handler = _ListHandler(self.lines)
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        self.levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.setLevel(logging.DEBUG)
            if logger is self.loggers[0] or not logger.propagate:
                logger.addHandler(self.handler)
        self.debug_cursors = {alias: connections[alias].force_debug_cursor for alias in connections}
        for alias in self.debug_cursors:
            connections[alias].force_debug_cursor = True
        return self.lines

    def __exit__(self, *exc_info) -> None:
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.removeHandler(self.handler)
            logger.setLevel(level)
        for alias, value in self.debug_cursors.items():
            connections[alias].force_debug_cursor = value


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]):
        super().__init__(level=logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
