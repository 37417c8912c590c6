"""A real Celery worker in a thread of the test process, on a real broker, for the tests
that need one (tests/test_worker.py, the browser tests). It leaves the app as it found it.
"""

import logging
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from celery.signals import setup_logging, task_postrun
from kombu import pools

from octopus_mail.celery import app


def forget_pools() -> None:
    """Drop the app's references to its pools, as Celery does after a fork."""
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker(url: str):
    """Point the project's Celery app at `url`, then back at the broker it had before.

    Kombu keeps pools in a process-wide registry keyed by broker URL; the app only caches
    references to them. Closing one by hand leaves it in that registry, closed ("Acquire on
    closed pool" for the next test) or, with close_pool=False, empty (the next publish waits
    forever for a connection). `kombu.pools.reset()` closes every pooled connection and
    empties the registry, as kombu does after a fork; pools are made again on next use.
    """
    previous = app.conf.broker_url
    forget_pools()
    app.conf.broker_url = url
    try:
        yield
    finally:
        pools.reset()
        forget_pools()
        app.conf.broker_url = previous


def broker_driver() -> str:
    return app.pool.connection.transport.driver_type


def _close_thread_connections(**kwargs) -> None:
    """The worker thread's database connections die with it unclosed, and then the test
    database cannot be dropped ("being accessed by other users"): close them after each
    task, in the worker's own thread."""
    from django.db import connections

    connections.close_all()


def _leave_logging_alone(**kwargs) -> None:
    """Answering Celery's setup_logging keeps the worker from taking over the root logger."""


@contextmanager
def worker_thread():
    """A solo worker in a thread of this process, which it leaves as it found it.

    Without care, the worker would keep its own handlers and level on the root logger, and
    its start re-runs django.setup(), whose logging config drops pytest's handlers: both for
    the rest of the pytest run.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging.connect(_leave_logging_alone, weak=False)
    task_postrun.connect(_close_thread_connections, weak=False)
    try:
        with start_worker(
            app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,  # the ping task (celery.contrib.testing) is not loaded
            loglevel="WARNING",
            shutdown_timeout=10,
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_thread_connections)
        setup_logging.disconnect(_leave_logging_alone)
        root.handlers[:] = handlers
        root.setLevel(level)
