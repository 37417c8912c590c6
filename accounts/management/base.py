"""What the mailbox commands share: reading an address, waiting for a job, reporting it;
and for aliases and quotas, writing the mail table at once (the worker's step, run here)."""

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from provisioning.exceptions import ProvisioningError, TransientError
from provisioning.models import EmailStatus, JobState, ProvisioningJob

SETTLED_EMAIL = {EmailStatus.DONE, EmailStatus.FAILED, EmailStatus.WAITING}


class MailboxCommand(BaseCommand):
    """Parses ADDRESS; turns every expected error into a French message and exit status 1.

    The use cases record the act themselves, with `self.actor` as the one who asked.
    """

    waits = False

    def add_arguments(self, parser):
        parser.add_argument("address", help="the full address, e.g. pierre@octopus-soignies.be")
        if self.waits:
            parser.add_argument(
                "--no-wait", action="store_true", help="only enqueue the job, do not wait"
            )
            parser.add_argument(
                "--timeout", type=float, default=120, help="seconds to wait (default 120)"
            )

    @property
    def actor(self) -> Actor:
        return Actor.command(self.__module__.rsplit(".", 1)[-1])

    def handle(self, *args, **options):
        try:
            return self.run(**options)
        except ValidationError as exc:
            raise CommandError(describe(exc)) from None
        except ProvisioningError as exc:
            raise CommandError(exc.message) from None

    def run(self, **options):
        raise NotImplementedError

    def write_now(self, sync, *, no_wait: bool, why=lambda: "", **ids) -> None:
        """Run the worker's step here, so that the command ends once the mail table has the
        change; the worker's own bell finds it done. Exit 2 when it is left to the retries;
        `why()` says what stopped it."""
        if no_wait:
            self.stdout.write("Enregistré ; le worker l'écrit dans la table du serveur mail.")
            return
        try:
            written = sync(**ids)
        except TransientError as exc:
            raise CommandError(
                f"Enregistré, mais pas encore écrit dans la table du serveur mail : {exc.message}",
                returncode=2,
            ) from None
        if not written:
            reason = why() or "voir les journaux du worker"
            raise CommandError(
                f"Enregistré, mais pas encore écrit dans la table du serveur mail ({reason}) ; "
                "nouvel essai automatique.",
                returncode=2,
            )

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
    "source": "SOURCE",
    "destinations": "DEST",
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
