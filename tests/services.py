"""Outside services the tests need: skip loudly on a laptop without one, fail in CI."""

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if listening(host, port):
        return
    reason = f"{name} is not listening on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)")
    pytest.skip(f"*** SKIPPED: {reason} ***")


def require_redis() -> None:
    require("Redis", "127.0.0.1", 6379)


def require_mariadb() -> None:
    require("MariaDB", "127.0.0.1", 3306)
