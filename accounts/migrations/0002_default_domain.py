"""Creates the association's domain with the settings its members are told."""

from django.db import migrations

DOMAIN = {
    "name": "octopus-soignies.be",
    "imap_host": "octopus-soignies.be",
    "imap_port": 993,
    "imap_security": "ssl",
    "smtp_host": "octopus-soignies.be",
    "smtp_port": 465,
    "smtp_security": "ssl",
    "webmail_url": "https://mail.octopus-soignies.be/",
    "cloud_url": "https://cloud.octopus-soignies.be",
}


def create_domain(apps, schema_editor):
    Domain = apps.get_model("accounts", "Domain")
    Domain.objects.using(schema_editor.connection.alias).get_or_create(
        name=DOMAIN["name"], defaults=DOMAIN
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_domain, migrations.RunPython.noop)]
