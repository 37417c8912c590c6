"""What the mailbox commands share: reading an address, waiting for a job, reporting it."""

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.models import Outcome
from audit.services import Actor, audit_record
from provisioning import services
from provisioning.exceptions import ProvisioningError
from provisioning.models import EmailStatus, JobState, ProvisioningJob

SETTLED_EMAIL = {EmailStatus.DONE, EmailStatus.FAILED, EmailStatus.WAITING}


class MailboxCommand(BaseCommand):
    """Parses ADDRESS; turns every expected error into a French message and exit status 1."""

    waits = False
    audit_action = ""  # each command's Action, for the audit trail

    def add_arguments(self, parser):
        parser.add_argument("address", help="the full address, e.g. pierre@octopus-soignies.be")
        if self.waits:
            parser.add_argument(
                "--no-wait", action="store_true", help="only enqueue the job, do not wait"
            )
            parser.add_argument(
                "--timeout", type=float, default=120, help="seconds to wait (default 120)"
            )

    def handle(self, *args, **options):
        try:
            result = self.run(**options)
        except ValidationError as exc:
            self.audit(options, Outcome.REFUSED, describe(exc))
            raise CommandError(describe(exc)) from None
        except ProvisioningError as exc:
            self.audit(options, Outcome.ERROR, exc.message)
            raise CommandError(exc.message) from None
        except CommandError as exc:  # the job failed, or did not finish in time
            self.audit(options, Outcome.ERROR, str(exc))
            raise
        self.audit(options, Outcome.SUCCESS, "")
        return result

    def audit(self, options: dict, outcome: str, detail: str) -> None:
        audit_record(
            actor=Actor.command(self.__module__.rsplit(".", 1)[-1]),
            action=self.audit_action,
            target=options["address"].strip().lower(),
            outcome=outcome,
            detail=detail,
        )

    def run(self, **options):
        raise NotImplementedError

    def report(self, job: ProvisioningJob, *, no_wait: bool, timeout: float, **_options) -> None:
        if no_wait:
            self.stdout.write(f"Envoi n°{job.pk} en file d'attente pour {job.mailbox}.")
            return
        job = wait_for(job, timeout=timeout)
        address = job.mailbox.address
        if job.state == JobState.FAILED:
            raise CommandError(f"Échec pour {address} : {job.last_error}")
        if job.state != JobState.DONE:
            raise CommandError(
                f"L'envoi n°{job.pk} pour {address} n'est pas terminé après {timeout:g} s "
                f"(état : {job.get_state_display()}). Un worker Celery tourne-t-il ? "
                f"{job.last_error}".strip(),
                returncode=2,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Mot de passe de {address} envoyé par SMS au {job.mailbox.member.masked_phone} "
                f"(message {job.sms_message_id}); email : {job.get_email_status_display()}."
            )
        )


# How each service field is named on the command line.
FIELD_NAMES = {
    "local_part": "adresse",
    "full_name": "--name",
    "phone": "--phone",
    "personal_email": "--personal-email",
}


def describe(error: ValidationError) -> str:
    """One line per problem, each naming the argument to correct."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    lines = [
        f"{FIELD_NAMES.get(field, field)} : {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    ]
    return "\n".join(["Rien n'a été créé :"] + lines)


def wait_for(job: ProvisioningJob, *, timeout: float) -> ProvisioningJob:
    """Poll the job (the database is the record) until it and its email step settle."""
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        settled = job.state == JobState.FAILED or (
            job.state == JobState.DONE and job.email_status in SETTLED_EMAIL
        )
        if settled or time.monotonic() >= deadline:
            return job
        time.sleep(0.2)


def mailbox_from(address: str):
    return services.mailbox_get(address=address)
