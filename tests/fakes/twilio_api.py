"""A local HTTP double of Twilio's Messages API, for the real `twilio` client to talk to.

Start it in setUpClass (`start()` returns the base URL for TWILIO_API_BASE_URL), `reset()`
it in setUp, and read what it received in `requests` (every request) and `messages` (the
messages it accepted, by sid). `fail_next()` and `stall_next()` script the next answers.
For load and fault drills (bench/): `refuse_numbers()` makes it refuse some recipients as
Twilio does (21211), and `misbehave()` answers a share of all calls with errors or stalls,
drawn from a seeded `random.Random`.
"""

import base64
import binascii
import hashlib
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SENDER = "OCTOPUS"  # an alphanumeric sender ID, as Belgium allows
API = "/2010-04-01"
MESSAGES_PATH = re.compile(
    rf"^{API}/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$"
)
INVALID_NUMBER = "The 'To' number is not a valid phone number."
HTML_PAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"
# Twilio's own codes and texts for the errors the double makes up by itself.
DEFAULT_ERRORS = {
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service Unavailable"),
}


def error_body(status: int, code: int | None = None, message: str | None = None) -> dict:
    """The JSON Twilio answers with when it refuses a request."""
    default_code, default_message = DEFAULT_ERRORS.get(status, (status, "Error"))
    code = code or default_code
    return {
        "code": code,
        "message": message or default_message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass(frozen=True)
class _Chaos:
    """Probabilistic faults: a share of answers are errors, another share stalls."""

    rng: random.Random
    error_rate: float
    error_statuses: tuple[int, ...]
    stall_rate: float
    stall_seconds: float

    def draw(self) -> "_Scripted | None":
        roll = self.rng.random()
        if roll < self.error_rate:
            status = self.rng.choice(self.error_statuses)
            return _Scripted(status, error_body(status))
        if roll < self.error_rate + self.stall_rate:
            return _Scripted(delay=self.stall_seconds)
        return None


@dataclass(frozen=True)
class _Scripted:
    status: int | None = None  # None: answer normally (after the delay)
    body: dict | None = None
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    # A worker sends a batch's SMS at once over new connections: with the default listen
    # backlog of 5, the extra SYNs are dropped and retried a second later by the kernel.
    request_queue_size = 128


class FakeTwilio:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = ""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self.reset()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> str:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.twilio = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-twilio", daemon=True
        )
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop(self) -> None:
        self._wake.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeTwilio":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def settings(self, **extra):
        """override_settings pointing the real Twilio backend at this double, plus `extra`."""
        from django.test import override_settings

        return override_settings(
            **{
                "SMS_BACKEND": "provisioning.sms.twilio.SmsBackend",
                "TWILIO_API_BASE_URL": self.base_url,
                "TWILIO_ACCOUNT_SID": self.account_sid,
                "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_FROM": SENDER,
                "TWILIO_MESSAGING_SERVICE_SID": "",
                **extra,
            }
        )

    def reset(self) -> None:
        """Forget requests, messages and scripts; a request still stalled is dropped."""
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()
            self.requests: list[dict] = []
            self.messages: dict[str, dict] = {}
            self.callbacks: dict[str, str] = {}  # sid → the StatusCallback URL it was sent with
            self.accepted_at: dict[str, float] = {}  # sid → time.monotonic() of its creation
            self._script: list[_Scripted] = []
            self._refused: dict[str, tuple[int, str]] = {}  # number → (Twilio code, message)
            self._chaos: _Chaos | None = None

    # --- scripting ----------------------------------------------------------------------

    def fail_next(
        self, status: int, code: int | None = None, message: str | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` requests with this HTTP status and Twilio error."""
        with self._lock:
            self._script += [_Scripted(status, error_body(status, code, message))] * times

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` requests this long (past the client's timeout) first."""
        with self._lock:
            self._script += [_Scripted(delay=seconds)] * times

    def html_next(self, status: int = 502, times: int = 1) -> None:
        """Answer the next requests with an HTML page, as a proxy in front of Twilio might."""
        with self._lock:
            self._script += [_Scripted(status, HTML_PAGE)] * times

    def refuse_numbers(self, numbers, code: int = 21211, message: str = INVALID_NUMBER) -> None:
        """Refuse messages to these numbers (E.164) with HTTP 400 and this Twilio code."""
        with self._lock:
            self._refused.update({number: (code, message) for number in numbers})

    def misbehave(
        self,
        *,
        error_rate: float = 0.0,
        error_statuses: tuple[int, ...] = (429, 503),
        stall_rate: float = 0.0,
        stall_seconds: float = 0.0,
        seed: int = 0,
    ) -> None:
        """From now on answer a share of calls with an error, and stall another share.

        A stalled call is answered normally after `stall_seconds` (past the client's timeout,
        the message is accepted all the same: the outcome the client saw was unknown).
        Scripted answers (`fail_next`, `stall_next`) come first; `reset()` ends this mode.
        """
        with self._lock:
            self._chaos = _Chaos(
                random.Random(seed), error_rate, tuple(error_statuses), stall_rate, stall_seconds
            )

    # --- status callbacks, as Twilio posts them -------------------------------------------

    def callback_request(
        self, sid: str, status: str, error_code: int | None = None
    ) -> tuple[str, dict, str]:
        """(URL, form, X-Twilio-Signature) of the status callback Twilio would post."""
        url = self.callbacks[sid]
        message = self.messages[sid]
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["from"] or "",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code:
            form["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, form)
        return url, form, signature

    def post_status(
        self, sid: str, status: str, error_code: int | None = None, signature: str | None = None
    ) -> int:
        """Post a signed status callback to the app over HTTP; the HTTP status it answered."""
        url, form, good_signature = self.callback_request(sid, status, error_code)
        request = urllib.request.Request(
            url,
            data=urlencode(form).encode(),
            headers={"X-Twilio-Signature": good_signature if signature is None else signature},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    # --- serving ------------------------------------------------------------------------

    def answer(
        self, path: str, auth: tuple[str, str] | None, form: dict, method: str = "POST"
    ) -> tuple | None:
        """(status, JSON body or HTML text) for one request, or None to drop it unanswered."""
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "auth": auth,
                    "form": form,
                    "received_at": time.monotonic(),
                }
            )
            scripted = self._script.pop(0) if self._script else None
            if scripted is None and self._chaos is not None:
                scripted = self._chaos.draw()
            wake = self._wake
        if scripted and scripted.delay and wake.wait(scripted.delay):
            return None  # reset() or stop() while stalled: the test that asked is over
        if scripted and scripted.status:
            return scripted.status, scripted.body
        match = MESSAGES_PATH.match(urlsplit(path).path)
        if match is None:
            return 404, error_body(404, message=f"The requested resource {path} was not found")
        if auth != (self.account_sid, self.auth_token) or match["account"] != self.account_sid:
            return 401, error_body(401)
        if match["sid"] and method == "GET":
            return self._fetch(match["sid"], path)
        if match["sid"]:
            return self._update(match["sid"], form, path)
        return self._create(form)

    def _fetch(self, sid: str, path: str) -> tuple[int, dict]:
        with self._lock:
            if sid not in self.messages:
                return 404, error_body(404, message=f"The requested resource {path} was not found")
            return 200, dict(self.messages[sid])

    def _create(self, form: dict) -> tuple[int, dict]:
        if not form.get("To"):
            return 400, error_body(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return 400, error_body(400, 21602, "Message body is required.")
        service = form.get("MessagingServiceSid")
        if not (form.get("From") or service):
            return 400, error_body(400, 21603, "A 'From' phone number is required.")
        with self._lock:
            if form["To"] in self._refused:
                return 400, error_body(400, *self._refused[form["To"]])
            number = len(self.messages) + 1
            digest = hashlib.sha256(f"{self.account_sid}/{number}".encode()).hexdigest()
            sid = f"SM{digest[:32]}"
            now = format_datetime(datetime.now(UTC), usegmt=True)
            uri = f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json"
            message = {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From") or None,
                "messaging_service_sid": service,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                # Through a Messaging Service Twilio first "accepts", then picks a sender.
                "status": "accepted" if service else "queued",
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
                "to": form["To"],
                "uri": uri,
            }
            self.callbacks[sid] = form.get("StatusCallback", "")
            self.messages[sid] = message
            self.accepted_at[sid] = time.monotonic()
        return 201, message

    def _update(self, sid: str, form: dict, path: str) -> tuple[int, dict]:
        with self._lock:
            if sid not in self.messages:
                return 404, error_body(404, message=f"The requested resource {path} was not found")
            message = self.messages[sid]
            if "Body" in form:
                message["body"] = form["Body"]  # "" is how a body is redacted
            if "Status" in form:
                message["status"] = form["Status"]
            message["date_updated"] = format_datetime(datetime.now(UTC), usegmt=True)
            return 200, dict(message)


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._serve("GET", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(
            "POST", dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        )

    def _serve(self, method: str, form: dict) -> None:
        auth = _basic_auth(self.headers.get("Authorization"))
        answer = self.server.twilio.answer(self.path, auth, form, method)
        if answer is None:
            return
        status, body = answer
        html = isinstance(body, str)
        data = body.encode() if html else json.dumps(body).encode()
        try:
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            kind = "text/html" if html else "application/json"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left, as it would with the real Twilio

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output clean
