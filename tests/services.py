"""Outside services the tests need: skip loudly on a laptop without one, fail in CI."""

import os
import shutil
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"  # programs such as dovecot, outside a user's PATH


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)")
    pytest.skip(f"*** SKIPPED: {reason} ***")


def require(name: str, host: str, port: int) -> None:
    if not listening(host, port):
        unavailable(f"{name} is not listening on {host}:{port}")


def require_redis() -> None:
    require("Redis", "127.0.0.1", 6379)


def require_rabbitmq() -> None:
    require("RabbitMQ", "127.0.0.1", 5672)


def require_mariadb() -> None:
    require("MariaDB", "127.0.0.1", 3306)


def require_binary(name: str, package: str = "") -> None:
    """`name` is a command (looked up in PATH, then sbin) or the full path of a program."""
    if not (shutil.which(name) or shutil.which(name, path=SBIN)):
        hint = f" (Debian package {package})" if package else ""
        unavailable(f"{name} is not installed{hint}")


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"the tests do not run as root, needed {why}")
