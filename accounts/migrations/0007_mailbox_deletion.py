from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_domain_self_service_reset"),
    ]

    operations = [
        migrations.AlterField(
            model_name="mailbox",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "en préparation"),
                    ("active", "active"),
                    ("disabled", "désactivée"),
                    ("deleted", "supprimée"),
                ],
                default="pending",
                max_length=10,
                verbose_name="statut",
            ),
        ),
        migrations.AddField(
            model_name="mailbox",
            name="deleted_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="supprimée le"
            ),
        ),
        migrations.AddField(
            model_name="mailbox",
            name="erased_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="effacée le"
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="erased_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="données effacées le"
            ),
        ),
    ]
