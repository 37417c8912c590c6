"""Trigram indexes for the search of the requests' queue (PostgreSQL only)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from octopus_mail.trigram import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [
        ("memberrequests", "0003_request_self_service"),
    ]

    operations = [
        TrigramExtension(),  # nothing on SQLite
        trigram_indexes(
            ("memberrequests", "MemberRequest", "full_name"),
            ("memberrequests", "MemberRequest", "personal_email"),
            ("memberrequests", "MemberRequest", "local_part"),
        ),
    ]
