"""axes_reset: django-axes' own command, with every lockout it lifts in the audit trail.

The audit app comes before axes in INSTALLED_APPS, so this command replaces axes' one.
"""

from axes.management.commands.axes_reset import Command as AxesResetCommand
from axes.models import AccessAttempt

from audit.services import Actor, audit_unlocks


class Command(AxesResetCommand):
    def handle(self, *args, **options):
        audit_unlocks(attempts=AccessAttempt.objects.all(), actor=Actor.command("axes_reset"))
        return super().handle(*args, **options)
