"""The jobs' list at scale: newest first from an index; its search by SMS id (PostgreSQL)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

from octopus_mail.trigram import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0005_job_retrying_since"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="provisioningjob",
            index=models.Index(
                models.OrderBy(models.F("created_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="job_newest_first",
            ),
        ),
        TrigramExtension(),  # nothing on SQLite
        trigram_indexes(("provisioning", "ProvisioningJob", "sms_message_id")),
    ]
