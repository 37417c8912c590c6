"""DNS health of a mail domain: one finding per check, in French, with the record to publish."""

from accounts.models import Domain

from ..exceptions import PermanentError, TransientError
from .clients import AUTOCONFIG, AUTODISCOVER, IMAP, IMAPS, SUBMISSION, SUBMISSIONS, check_rdns
from .lookups import ERROR, OK, RANK, WARNING, Finding, Lookups, Run
from .mail import check_dkim, check_dmarc, check_mx, check_spf

__all__ = ["CHECKS", "ERROR", "OK", "RANK", "WARNING", "Finding", "domain_check_dns"]

CHECKS = [
    ("mx", "MX", check_mx),
    ("spf", "SPF", check_spf),
    ("dkim", "DKIM", check_dkim),
    ("dmarc", "DMARC", check_dmarc),
    ("srv_imaps", "SRV _imaps._tcp", IMAPS),
    ("srv_submissions", "SRV _submissions._tcp", SUBMISSIONS),
    ("srv_imap", "SRV _imap._tcp", IMAP),
    ("srv_submission", "SRV _submission._tcp", SUBMISSION),
    ("autoconfig", "autoconfig (Thunderbird)", AUTOCONFIG),
    ("autodiscover", "autodiscover (Outlook)", AUTODISCOVER),
    ("rdns", "DNS inverse (PTR)", check_rdns),
]


# All queries go through `provisioning.dns`. A timeout is never read as "record missing":
# the finding is then a warning marked inconclusive, which the daily watch neither stores
# nor reports, so a slow resolver cannot raise a false alarm.
def domain_check_dns(*, domain: Domain, dkim_selector: str = "") -> list[Finding]:
    """Every check of `domain`, in a fixed order; never raises for what the DNS says."""
    run = Run(domain, Lookups(), (dkim_selector or domain.dkim_selector).strip().lower())
    findings = []
    for key, label, check in CHECKS:
        try:
            level, message, record = check(run)
        except TransientError as exc:
            findings.append(Finding(key, label, WARNING, exc.message, conclusive=False))
            continue
        except PermanentError as exc:
            level, message, record = ERROR, exc.message, ""
        findings.append(Finding(key, label, level, message, record))
    return findings
