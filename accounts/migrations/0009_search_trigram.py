"""Trigram indexes for the searches of the mailboxes' and members' lists (PostgreSQL only)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from octopus_mail.trigram import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_mailbox_last_job"),
    ]

    operations = [
        TrigramExtension(),  # nothing on SQLite
        trigram_indexes(
            ("accounts", "Mailbox", "local_part"),
            ("accounts", "Member", "full_name"),
            ("accounts", "Member", "personal_email"),
        ),
    ]
