"""Creates the ISPmail tables in the `mailserver` database where they do not exist yet."""

from django.db import migrations


def create_tables(apps, schema_editor):
    from provisioning import mailserver

    mailserver.create_tables(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0001_initial")]

    operations = [
        migrations.RunPython(
            create_tables, migrations.RunPython.noop, hints={"target_db": "mailserver"}
        ),
    ]
