"""Mailbox.last_job: the newest delivery, filled here for the mailboxes already there; the
index of the admin's list order."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_last_job(apps, schema_editor):
    """One UPDATE: each mailbox points to its newest job (none: stays null)."""
    mailbox_model = apps.get_model("accounts", "Mailbox")
    job_model = apps.get_model("provisioning", "ProvisioningJob")
    newest = job_model.objects.filter(mailbox=OuterRef("pk")).order_by("-created_at", "-pk")
    mailbox_model.objects.update(last_job=Subquery(newest.values("pk")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_mailbox_deletion"),
        ("provisioning", "0005_job_retrying_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailbox",
            name="last_job",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="provisioning.provisioningjob",
                verbose_name="dernier envoi",
            ),
        ),
        migrations.RunPython(fill_last_job, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="mailbox",
            index=models.Index(
                models.F("domain"),
                models.F("local_part"),
                models.OrderBy(models.F("id"), descending=True),
                name="mailbox_admin_order",
            ),
        ),
    ]
