"""sweepjobs: ring again for jobs whose message was lost (what Celery beat does every minute)."""

from django.core.management.base import BaseCommand

from provisioning import mailsync, steps


class Command(BaseCommand):
    help = "Re-enqueue jobs queued or claimed for too long (lost message, dead worker)."

    def handle(self, *args, **options):
        rung = steps.jobs_sweep()
        self.stdout.write(
            f"Envois relancés : {rung['password']} mot(s) de passe, {rung['email']} email(s)."
        )
        pending = mailsync.mail_table_sweep()
        self.stdout.write(
            f"Écritures relancées dans la table du serveur mail : {pending['aliases']} alias, "
            f"{pending['quotas']} quota(s)."
        )
