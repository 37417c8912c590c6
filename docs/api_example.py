"""Create the mailboxes of a CSV file through octopus-mail's REST API, then follow each
password's delivery to its SMS status.

    export OCTOPUS_API_TOKEN=om_...   # manage.py createapitoken import --scope mailboxes:read \
                                      #   --scope mailboxes:write
    python docs/api_example.py membres.csv --url https://admin.octopus-soignies.be/api/v1/

The CSV has a header row with the columns of the admin's import: `nom`, `adresse` (the part
before the @; empty: made from the name), `email personnel`, `gsm`; optionally `domaine`.
Each row is sent with an `Idempotency-Key` made from its content: running the script again
on the same file (within 24 hours) replays the first answers instead of creating anything
twice, and a request retried after a timeout never makes a second mailbox or SMS.

Needs only `requests` (pip install requests). Exit status 1 when a row was refused or a
delivery failed.
"""

import argparse
import csv
import os
import sys
import time
import uuid

import requests

COLUMNS = {"nom": "full_name", "adresse": "local_part", "email personnel": "personal_email",
           "gsm": "phone", "domaine": "domain"}  # fmt: skip
ATTEMPTS = 5  # per request, on a timeout, a 429 or a 5xx
TIMEOUT = 10  # seconds per HTTP request


def read_rows(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return [
            {COLUMNS[name.strip().lower()]: (value or "").strip()
             for name, value in row.items() if name and name.strip().lower() in COLUMNS}
            for row in csv.DictReader(file)
        ]  # fmt: skip


def send(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    """One request, retried with the same headers (so the same Idempotency-Key)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = session.request(method, url, timeout=TIMEOUT, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            if attempt == ATTEMPTS:
                raise
            time.sleep(2**attempt)
            continue
        if response.status_code != 429 and response.status_code < 500 or attempt == ATTEMPTS:
            return response
        time.sleep(int(response.headers.get("Retry-After", 2**attempt)))
    raise AssertionError("unreachable")


def create(session: requests.Session, base_url: str, row: dict) -> str | None:
    """The job's URL, or None after printing why the row was refused."""
    fields = {name: value for name, value in row.items() if value}
    key = str(uuid.uuid5(uuid.NAMESPACE_URL, base_url + repr(sorted(fields.items()))))
    response = send(session, "POST", f"{base_url}mailboxes/", json=fields,
                    headers={"Idempotency-Key": key})  # fmt: skip
    if response.status_code == 202:
        answer = response.json()
        replayed = " (déjà demandée)" if response.headers.get("Idempotent-Replayed") else ""
        print(f"{answer['mailbox']['address']} : créée{replayed}, envoi n°{answer['job']['id']}")
        if answer["warning"]:
            print(f"  attention : {answer['warning']}")
        return answer["job"]["url"]
    problem = response.json()  # application/problem+json, in French
    print(f"{row.get('full_name', '?')} : refusé ({response.status_code}) — {problem['detail']}")
    return None


def follow(session: requests.Session, job_urls: list[str], timeout: float) -> int:
    """Poll the jobs until each is settled (SMS delivered or failed); the failures."""
    pending, failures, deadline = list(job_urls), 0, time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        time.sleep(2)
        for url in list(pending):
            job = send(session, "GET", url).json()
            if job["settled"] or job["state"] == "failed":
                pending.remove(url)
                failures += job["tone"] == "error"
                print(f"{job['mailbox']} : {job['summary']}")
    for url in pending:
        print(f"{url} : pas encore terminé — {send(session, 'GET', url).json()['summary']}")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv")
    parser.add_argument("--url", default="http://127.0.0.1:8000/api/v1/")
    parser.add_argument("--wait", type=float, default=300, help="seconds to follow the SMS; 0: no")
    options = parser.parse_args(argv)
    token = os.environ.get("OCTOPUS_API_TOKEN")
    if not token:
        parser.error("set OCTOPUS_API_TOKEN to a token with mailboxes:write (and :read to follow)")
    base_url = options.url.rstrip("/") + "/"
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        rows = read_rows(options.csv)
        job_urls = [create(session, base_url, row) for row in rows]
        refused = job_urls.count(None)
        accepted = [url for url in job_urls if url]
        failed = follow(session, accepted, options.wait) if options.wait > 0 else 0
    print(f"{len(rows)} ligne(s) : {len(rows) - refused} acceptée(s), {refused} refusée(s), "
          f"{failed} envoi(s) en échec.")  # fmt: skip
    return 1 if refused or failed else 0


if __name__ == "__main__":
    sys.exit(main())
