"""The services the benchmarks run on loopback, each a context manager that cleans up after
itself: an SMTP sink, scratch databases on the shared PostgreSQL, a private PostgreSQL to
stop during a drill, and a Redis database of their own."""

import os
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def close_connections() -> None:
    """Django's connections of this process, if Django is set up (before a database goes)."""
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()


def pg_url(name: str, port: int = 5432) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{name}"


# --- an SMTP server that keeps every message in a folder ------------------------------------


class SmtpSink:
    """Accepts every message over SMTP on 127.0.0.1 and writes it to `folder`, one file each.

    The worker sends its emails as in production (Django's SMTP backend), and the drill can
    search the files: Django's filebased backend is refused by a system check when DEBUG
    is off.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self.url = ""

    def __enter__(self) -> "SmtpSink":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
        self._server.daemon_threads = True
        self._server.sink = self
        threading.Thread(target=self._server.serve_forever, name="smtp-sink", daemon=True).start()
        self.url = f"smtp://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def keep(self, data: bytes) -> None:
        with self._lock:
            self.count += 1
            (self.folder / f"{self.count:06d}.eml").write_bytes(data)


class _SmtpHandler(socketserver.StreamRequestHandler):
    REPLIES = {
        b"HELO": b"250 localhost",
        b"EHLO": b"250-localhost\r\n250-8BITMIME\r\n250 SIZE 10485760",
        b"MAIL": b"250 2.1.0 Ok",
        b"RCPT": b"250 2.1.5 Ok",
        b"RSET": b"250 2.0.0 Ok",
        b"NOOP": b"250 2.0.0 Ok",
        b"DATA": b"354 End data with <CR><LF>.<CR><LF>",
        b"QUIT": b"221 2.0.0 Bye",
    }

    def handle(self) -> None:
        self.wfile.write(b"220 localhost bench SMTP sink\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            self.wfile.write(self.REPLIES.get(verb, b"502 5.5.2 Not implemented") + b"\r\n")
            if verb == b"QUIT":
                return
            if verb == b"DATA":
                self.server.sink.keep(self._data())
                self.wfile.write(b"250 2.0.0 Ok: queued\r\n")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) and line.rstrip(b"\r\n") != b".":
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


# --- scratch databases on the shared PostgreSQL ---------------------------------------------


def _admin_sql(statement: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
        connection.execute(sql.SQL(statement).format(sql.Identifier(name)))


@contextmanager
def scratch_databases(*names: str):
    """Fresh databases on the shared PostgreSQL (127.0.0.1:5432), dropped afterwards."""
    for name in names:
        _admin_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
        _admin_sql("CREATE DATABASE {}", name)
    try:
        yield [pg_url(name) for name in names]
    finally:
        close_connections()
        for name in names:
            _admin_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


# --- a private PostgreSQL, to stop and start during a drill --------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary folder, on 127.0.0.1:`port`.

    Never the machine's shared PostgreSQL: this one may be stopped while others work.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.folder: Path | None = None
        self.running = False
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *command) -> None:
        subprocess.run(
            [*self._as_postgres, *map(str, command)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def __enter__(self) -> "PrivatePostgres":
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken: set BENCH_PG_PORT to a free one")
        self.folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        initdb = PG_BIN / "initdb"
        self._run(initdb, "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
        )
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l",
                  self.folder / "postgres.log", "-w", "-t", "60", "start")  # fmt: skip
        self.running = True

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=5"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return pg_url(name, self.port)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def pg_dump(url: str) -> bytes:
    """The whole database as SQL text (data included), to search for leaked secrets."""
    return subprocess.run(
        [str(PG_BIN / "pg_dump"), "--no-owner", url], check=True, capture_output=True, timeout=120
    ).stdout


# --- Redis ----------------------------------------------------------------------------------


_REDIS_CHECKED: set[str] = set()


@contextmanager
def redis_database(url: str = REDIS_URL):
    """A Redis database for the bench alone: refused if another client uses it when this
    process first asks (later, the clients are this process's own); flushed before and after."""
    import redis

    client = redis.Redis.from_url(url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    others = [
        entry["addr"]
        for entry in client.client_list()
        if int(entry["db"]) == db and entry["cmd"] != "client|list"
    ]
    if others and url not in _REDIS_CHECKED:
        client.close()
        raise RuntimeError(f"{url} is in use by {others}: set BENCH_REDIS_URL to a free database")
    _REDIS_CHECKED.add(url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
