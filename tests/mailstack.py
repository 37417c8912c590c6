"""A real Dovecot and a real Postfix as plain processes on loopback ports, for end-to-end tests.

    stack = MailStack(dovecot_sql_conf=SQL_CONF, postfix_maps=MAPS, dovecot_files=QUOTA_FILES)
    stack.start()
    try:
        stack.imap_login("pierre@octopus-soignies.be", password).logout()
    finally:
        stack.stop()

Everything lives in one work folder: configuration (tests/mailstack_config.py), a self-signed
certificate, sockets, queues, mailboxes and logs. Nothing under /etc is written and no system
service is used. Needs root (Postfix's master and Dovecot drop privileges to their own users)
and the Debian packages dovecot-imapd, dovecot-lmtpd, dovecot-pgsql (or -mysql), postfix,
postfix-pgsql (or -mysql).

What was found on Debian 12 (Dovecot 2.3.19, Postfix 3.7), for the processes (the
configuration's findings are in tests/mailstack_config.py):
- `postfix -c DIR start-fg` is enough as root (see mailstack_config). Not being PID 1, it runs
  `master -s` as a child of the postfix-script shell we start: waiting for that shell is
  waiting for the master. The master leads a session of its own, and on SIGTERM (`postfix
  stop`) signals its children without waiting for them.
- Postfix re-reads a main.cf changed in the last second or two until it "settles" (0.3 s
  naps, 2 s a command): the files are back-dated.
- Dovecot's master takes about 1 s to stop, waiting for its log process.
- Dovecot's auth process crashed (SIGSEGV) when the pgsql database did not exist;
  imap-login then greets with "* BYE Auth process broken": start() fails with the log.
"""

import contextlib
import ctypes
import imaplib
import os
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from .mailstack_config import DOVECOT_CONF, POSTFIX_MAIN_CF, POSTFIX_MASTER_CF

START_TIMEOUT = 30  # seconds; both start in about a second, the margin is for a loaded CI box
STOP_TIMEOUT = 15
CLIENT_TIMEOUT = 10
MAP_NAMES = ("virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps")
DOVECOT_FILES = ("90-quota.conf", "dovecot-dict-sql.conf.ext")
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
LOGS = ("dovecot.log", "postfix.log")
PR_SET_CHILD_SUBREAPER = 36  # from linux/prctl.h
_orphan_adopters = 0
# Command → the Debian package that ships it.
REQUIRED_BINARIES = {
    "dovecot": "dovecot-core",
    "/usr/lib/dovecot/imap": "dovecot-imapd",
    "/usr/lib/dovecot/lmtp": "dovecot-lmtpd",
    "postfix": "postfix",
    "openssl": "openssl",
}


class MailStackError(RuntimeError):
    """The stack could not start or stop; the message ends with the tail of the daemons' logs."""


def binary(name: str) -> str | None:
    """The path of a command, also found in sbin when that is not in PATH."""
    return shutil.which(name) or shutil.which(name, path=SBIN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def insecure_tls() -> ssl.SSLContext:
    """For tests on loopback only: the certificate is self-signed and not verified."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"--- {path.name}: (no file)"
    return "\n".join([f"--- {path.name}:", *text])


def processes() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, session id) of every process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                state, ppid, _group, session = (
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
                )
                found.append((int(entry.name), state, int(ppid), int(session)))
    return found


def session_members(session: int) -> list[int]:
    return [pid for pid, state, _ppid, sid in processes() if sid == session and state != "Z"]


def adopt_orphans(more: int) -> None:
    """Count one more (+1) or one fewer (-1) Postfix whose orphans this process must reap.

    Postfix's master exits without waiting for its children. Their orphans go to init, which on
    this kind of machine reaps them seconds later: meanwhile they show as <defunct> in ps. As a
    "child subreaper" (Linux) this process inherits them instead, and end_session reaps them.
    """
    global _orphan_adopters
    _orphan_adopters += more
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, int(_orphan_adopters > 0), 0, 0, 0)


def end_session(session: int) -> None:
    """Wait for a session's processes to exit; SIGKILL those still there after STOP_TIMEOUT."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while (pids := session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pids := session_members(session):
        if time.monotonic() > deadline:
            raise MailStackError(f"processes {pids} of session {session} survived SIGKILL")
        time.sleep(0.05)
    me = os.getpid()
    for pid, _state, ppid, sid in processes():
        if sid == session and ppid == me:  # exited orphans we adopted
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


class MailStack:
    """Dovecot (IMAPS, LMTP, SASL) and Postfix (SMTPS) reading the mail tables through SQL."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        dovecot_sql_conf: str,
        postfix_maps: dict[str, str],
        dovecot_files: dict[str, str] | None = None,
        dovecot_dir: str = "/etc/dovecot",
        workdir: Path | None = None,
    ):
        maps = dict(postfix_maps)
        self.map_type = maps.pop("type", None)
        if self.map_type not in ("pgsql", "mysql"):
            raise ValueError('postfix_maps["type"] must be "pgsql" or "mysql"')
        if sorted(maps) != sorted(MAP_NAMES):
            raise ValueError(f"postfix_maps needs {', '.join(MAP_NAMES)} and type, nothing else")
        self.dovecot_sql_conf = dovecot_sql_conf
        self.postfix_maps = maps
        # More Dovecot files (90-quota.conf, dovecot-dict-sql.conf.ext) as mailserver_config
        # writes them for `dovecot_dir`: they go into the work folder, which they name instead.
        unknown = set(dovecot_files or {}) - set(DOVECOT_FILES)
        if unknown:
            raise ValueError(f"dovecot_files takes {', '.join(DOVECOT_FILES)}, not {unknown}")
        self.dovecot_files = dict(dovecot_files or {})
        self.dovecot_dir = dovecot_dir.rstrip("/") + "/"
        # A folder of our own is removed by stop(); pass one to keep the logs. Its parents
        # must let the dovecot and postfix users through (pytest's tmp_path does not: 0700).
        self.own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mailstack-"))
        self.imap_port = self.smtp_port = 0
        self._dovecot: subprocess.Popen | None = None
        self._postfix: subprocess.Popen | None = None

    def __enter__(self) -> "MailStack":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @staticmethod
    def versions() -> dict[str, str]:
        dovecot = subprocess.run([binary("dovecot"), "--version"], capture_output=True, text=True)
        postfix = subprocess.run(
            [binary("postconf"), "-d", "-h", "mail_version"], capture_output=True, text=True
        )
        return {"dovecot": dovecot.stdout.split()[0], "postfix": postfix.stdout.strip()}

    def logs(self, lines: int = 30) -> str:
        """The end of both daemons' logs, for a failing test's message."""
        return "\n".join(tail(self.workdir / name, lines) for name in LOGS)

    # --- Start and stop --------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration, start Dovecot then Postfix, wait until both greet over TLS."""
        missing = [name for name in REQUIRED_BINARIES if not binary(name)]
        if missing:
            packages = " ".join(REQUIRED_BINARIES[name] for name in missing)
            raise MailStackError(f"missing {', '.join(missing)}: apt-get install {packages}")
        if os.geteuid() != 0:
            raise MailStackError("Postfix and Dovecot drop privileges: run the stack as root")
        try:
            self._write_files()
            self._start_dovecot()
            self._start_postfix()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop Postfix then Dovecot and wait until none of their processes is left."""
        try:
            self._stop_postfix()
        finally:
            self._stop_dovecot()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        """Every live process of the stack, so a test can check that stop() ends them all."""
        sessions = self._sessions(self._dovecot, self._postfix)
        return [pid for pid, state, _, sid in processes() if sid in sessions and state != "Z"]

    @staticmethod
    def _sessions(*started: subprocess.Popen | None) -> set[int]:
        # Each daemon is started in a session of its own, and Postfix's master (a child of
        # the postfix-script shell we start) makes one more.
        pids = {process.pid for process in started if process is not None}
        return pids | {sid for _, _, ppid, sid in processes() if ppid in pids}

    def _start_dovecot(self) -> None:
        # -F keeps the master in the foreground, as our child: waiting for it is exact.
        command = [binary("dovecot"), "-F", "-c", str(self.workdir / "dovecot.conf")]
        self._dovecot = self._spawn(command, "dovecot.out")
        logs = ("dovecot.out", "dovecot.log")
        self._wait_for_greeting("Dovecot", self._dovecot, self.imap_port, b"* OK", logs)

    def _start_postfix(self) -> None:
        command = [binary("postfix"), "-c", str(self.workdir / "postfix"), "start-fg"]
        self._postfix = self._spawn(command, "postfix.out")
        adopt_orphans(+1)
        logs = ("postfix.out", "postfix.log")
        self._wait_for_greeting("Postfix", self._postfix, self.smtp_port, b"220 ", logs)

    def _stop_postfix(self) -> None:
        if self._postfix is None:
            return
        sessions = self._sessions(self._postfix)
        process, self._postfix = self._postfix, None
        if process.poll() is None:
            self._run([binary("postfix"), "-c", str(self.workdir / "postfix"), "stop"])
        self._wait_or_kill(process)
        try:
            for session in sessions:
                end_session(session)  # the master signals its children, does not wait for them
        finally:
            adopt_orphans(-1)

    def _stop_dovecot(self) -> None:
        if self._dovecot is None:
            return
        process, self._dovecot = self._dovecot, None
        process.terminate()  # what `doveadm stop` does, to the pid we already have
        self._wait_or_kill(process)  # about 1 s: the master waits for its log process
        end_session(process.pid)

    def _spawn(self, command: list[str], output: str) -> subprocess.Popen:
        # Output to a file: the daemons inherit it, and a pipe would never close.
        with open(self.workdir / output, "ab") as out:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one session id to sweep when stopping
            )

    def _run(self, command: list[str]) -> None:
        with open(self.workdir / "commands.out", "ab") as out:
            subprocess.run(command, stdout=out, stderr=out, timeout=STOP_TIMEOUT, check=False)

    @staticmethod
    def _wait_or_kill(process: subprocess.Popen) -> None:
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def _wait_for_greeting(
        self, name: str, process: subprocess.Popen, port: int, greeting: bytes, logs: tuple
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        problem = "no answer"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._fail(f"{name} exited with status {process.returncode}", logs)
            try:
                sock = socket.create_connection((self.host, port), timeout=2)
                with insecure_tls().wrap_socket(sock, server_hostname=self.host) as conn:
                    line = conn.recv(200)
                if line.startswith(greeting):
                    return
                # e.g. "* BYE Auth process broken": the SQL settings are wrong.
                self._fail(f"{name} said {line!r} instead of a greeting", logs)
            except OSError as error:
                problem = repr(error)
            time.sleep(0.05)
        self._fail(f"{name} did not greet over TLS on port {port} ({problem})", logs)

    def _fail(self, message: str, logs: tuple) -> None:
        details = "\n".join(tail(self.workdir / log) for log in logs)
        raise MailStackError(f"{message}\n{details}")

    # --- Files -----------------------------------------------------------------------------

    def _write_files(self) -> None:
        self.imap_port = free_port()
        while (smtp_port := free_port()) == self.imap_port:
            pass
        self.smtp_port = smtp_port
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # the daemons' users go through it to sockets and mail
        mail_user = pwd.getpwnam("dovecot")
        for folder in ("mail", "postfix", "postfix-queue"):
            (self.workdir / folder).mkdir(exist_ok=True)
        os.chown(self.workdir / "mail", mail_user.pw_uid, mail_user.pw_gid)
        self._make_certificate()
        values = {
            "work": self.workdir,
            "config": self.workdir / "postfix",
            "imap_port": self.imap_port,
            "smtp_port": self.smtp_port,
            "map_type": self.map_type,
            "mail_uid": mail_user.pw_uid,
            "mail_gid": mail_user.pw_gid,
        }
        self._write("dovecot-sql.conf.ext", self.dovecot_sql_conf)
        for name in DOVECOT_FILES:  # an empty 90-quota.conf: no quota plugin
            text = self.dovecot_files.get(name, "")
            self._write(name, text.replace(self.dovecot_dir, f"{self.workdir}/"))
        self._write("dovecot.conf", DOVECOT_CONF.substitute(values))
        self._write("postfix/main.cf", POSTFIX_MAIN_CF.substitute(values))
        self._write("postfix/master.cf", POSTFIX_MASTER_CF.substitute(values))
        for name, text in self.postfix_maps.items():
            self._write(f"postfix/{name}.cf", text)

    def _write(self, name: str, text: str) -> None:
        path = self.workdir / name
        path.write_text(text if text.endswith("\n") else text + "\n")
        # Read by the daemons' users once they dropped root; test credentials only.
        path.chmod(0o644)
        # Postfix re-reads a file changed in the last second or two, in 0.3 s naps, until it
        # "settles": back-dated, main.cf and the maps load at once (2.7 s → 0.6 s a start).
        settled = time.time() - 60
        os.utime(path, (settled, settled))

    def _make_certificate(self) -> None:
        if (self.workdir / "cert.pem").exists():
            return
        command = [
            binary("openssl"), "req", "-x509", "-nodes", "-days", "2",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(self.workdir / "key.pem"), "-out", str(self.workdir / "cert.pem"),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise MailStackError(f"openssl could not make a certificate:\n{result.stderr}")

    # --- Clients ---------------------------------------------------------------------------

    def imap_login(self, user: str, password: str) -> imaplib.IMAP4_SSL:
        """A logged-in IMAPS client; raises imaplib.IMAP4.error when the login is refused.

        A temporary failure (the SQL lookup failed) raises MailStackError with the logs, so
        that a broken stack never passes for a refused password.
        """
        imap = imaplib.IMAP4_SSL(
            self.host, self.imap_port, ssl_context=insecure_tls(), timeout=CLIENT_TIMEOUT
        )
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error as error:
            imap.shutdown()
            if "[UNAVAILABLE]" in str(error):  # not a refusal: Dovecot could not check
                raise MailStackError(f"IMAP login failed: {error}\n{self.logs()}") from error
            raise
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def smtp_login(self, user: str, password: str) -> smtplib.SMTP_SSL:
        """An authenticated SMTPS client; raises smtplib.SMTPAuthenticationError when refused.

        One AUTH PLAIN only: `SMTP.login()` would try LOGIN after a refused PLAIN. A 454
        raises MailStackError; but Postfix 3.7 answers 535 when Dovecot's SQL lookup fails
        too, so an SMTP refusal proves something only beside an SMTP login that succeeds.
        """
        smtp = smtplib.SMTP_SSL(
            self.host, self.smtp_port, context=insecure_tls(), timeout=CLIENT_TIMEOUT
        )
        try:
            smtp.user, smtp.password = user, password
            smtp.auth("PLAIN", smtp.auth_plain)
        except smtplib.SMTPAuthenticationError as error:
            smtp.close()
            if error.smtp_code != 535:  # 454: not a refusal, Dovecot could not check
                raise MailStackError(f"SMTP login failed: {error}\n{self.logs()}") from error
            raise
        except BaseException:
            smtp.close()
            raise
        return smtp

    def wait_for_message(self, user: str, password: str, subject: str, timeout=20) -> bool:
        """Whether a message with this subject is in the user's INBOX within `timeout` s."""
        quoted = '"' + subject.replace("\\", "\\\\").replace('"', '\\"') + '"'
        deadline = time.monotonic() + timeout
        while True:
            imap = self.imap_login(user, password)
            try:
                imap.select("INBOX", readonly=True)
                _status, [found] = imap.search(None, "SUBJECT", quoted)
            finally:
                imap.logout()
            if found.split():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
