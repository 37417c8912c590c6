"""Searching for plaintext passwords where they must never be: database dumps, Redis (every
command it received and every key left), log files and the emails sent."""

import base64
import email
import math
import threading
import uuid
from pathlib import Path


def traces_of(secret: str) -> list[bytes]:
    """`secret` in clear, and as it reads inside base64 text at each of the 3 alignments
    (kombu's Redis transport and MIME bodies hold base64)."""
    data = secret.encode()
    traces = [data]
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data)
        traces.append(encoded[math.ceil(offset * 8 / 6) : (offset + len(data)) * 8 // 6])
    return traces


def hits(secrets: list[str], texts: list[bytes]) -> int:
    """How many of `secrets` appear, in any form, in any of `texts`."""
    blob = b"\0".join(texts)  # one search per trace: tens of thousands of texts stay fast
    return sum(any(trace in blob for trace in traces_of(secret)) for secret in secrets)


def redis_contents(client) -> list[bytes]:
    """Every key of the client's database and everything it holds, whatever its type."""
    readers = {
        b"string": lambda key: [client.get(key)],
        b"list": lambda key: client.lrange(key, 0, -1),
        b"hash": lambda key: [item for pair in client.hgetall(key).items() for item in pair],
        b"set": lambda key: list(client.smembers(key)),
        b"zset": lambda key: client.zrange(key, 0, -1),
    }
    found = []
    for key in client.scan_iter():
        kind = client.type(key)
        found += [key, *(value for value in readers.get(kind, lambda k: [])(key) if value)]
    return found


def email_texts(folder: Path) -> list[bytes]:
    """Each message as sent, and each of its parts decoded (base64 or quoted-printable)."""
    texts = []
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        texts.append(raw)
        for part in email.message_from_bytes(raw).walk():
            payload = part.get_payload(decode=True)
            if payload:
                texts.append(payload)
    return texts


class RedisTraffic:
    """Every command Redis receives for one database, recorded with MONITOR in a thread."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.commands: list[bytes] = []
        self._end = f"end-of-recording-{uuid.uuid4()}"
        self._monitor = self.client.monitor()
        self._thread = threading.Thread(target=self._record, name="redis-monitor", daemon=True)

    def __enter__(self) -> "RedisTraffic":
        self._monitor.__enter__()  # MONITOR is on once this returns
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread.is_alive():
            self.client.echo(self._end)  # a blocking read ends on a command, not on a flag
            self._thread.join(10)
        self._monitor.__exit__()
        self.client.close()

    def _record(self) -> None:
        while True:
            try:
                entry = self._monitor.next_command()
            except Exception:  # noqa: BLE001 - the connection closed: the recording ends
                return
            if self._end in entry["command"]:
                return
            if entry["db"] == self.db:
                self.commands.append(entry["command"].encode())
