"""checkdns DOMAIN [--dkim-selector NAME] [--json]: the domain's DNS health, check by check.

Exit status: 0 all conclusive and without error, 1 at least one error, 2 no error but a
check could not conclude (the DNS did not answer in time).
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from provisioning import dns, dnshealth, services

MARKS = {"ok": "OK", "warning": "AVERTISSEMENT", "error": "ERREUR"}


class Command(BaseCommand):
    help = (
        "Check the DNS records of a managed domain (MX, SPF, DKIM, DMARC, SRV, autoconfig, "
        "autodiscover, reverse DNS). Exit status 1 on an error, 2 when the DNS did not answer."
    )

    def add_arguments(self, parser):
        parser.add_argument("domain", help="a domain managed here, e.g. octopus-soignies.be")
        parser.add_argument(
            "--dkim-selector", default="", help="DKIM selector (default: the domain's own)"
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="machine-readable output"
        )

    def handle(self, *, domain, dkim_selector, as_json, **options):
        try:
            found = services.domain_get(name=domain)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        findings = dnshealth.domain_check_dns(domain=found, dkim_selector=dkim_selector)
        if as_json:
            self._print_json(found, findings)
        else:
            self._print_text(found, findings)
        errors = [f for f in findings if f.conclusive and f.level == dnshealth.ERROR]
        if errors:
            raise CommandError(
                f"{len(errors)} erreur(s) dans le DNS de {found.name}.", returncode=1
            )
        if not all(f.conclusive for f in findings):
            raise CommandError(
                "Le DNS n'a pas répondu pour tous les contrôles : résultat incomplet.",
                returncode=2,
            )

    def _print_text(self, domain, findings) -> None:
        self.stdout.write(f"DNS de {domain.name} (serveurs : {dns.describe_nameservers()})")
        for finding in findings:
            mark = MARKS[finding.level] if finding.conclusive else "INDÉTERMINÉ"
            style = {
                "ok": self.style.SUCCESS, "warning": self.style.WARNING, "error": self.style.ERROR
            }[finding.level]  # fmt: skip
            self.stdout.write(style(f"{mark:<13}") + f" {finding.label} : {finding.message}")
            for line in finding.record.splitlines():
                self.stdout.write(f"{'':<13}   à publier : {line}")
        counts = {level: sum(f.level == level for f in findings) for level in MARKS}
        self.stdout.write(
            f"Bilan : {counts['ok']} correct(s), {counts['warning']} avertissement(s), "
            f"{counts['error']} erreur(s)."
        )

    def _print_json(self, domain, findings) -> None:
        report = {
            "domain": domain.name,
            "nameservers": dns.describe_nameservers(),
            "ok": all(f.conclusive and f.level == dnshealth.OK for f in findings),
            "findings": [finding.as_dict() for finding in findings],
        }
        self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
