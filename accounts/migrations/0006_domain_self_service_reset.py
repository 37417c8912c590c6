from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_aliases_and_quotas"),
    ]

    operations = [
        migrations.AddField(
            model_name="domain",
            name="self_service_reset",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Coché : une demande de nouveau mot de passe confirmée depuis l'email "
                    "personnel connu part sans attendre votre approbation (toujours vers le GSM "
                    "connu)."
                ),
                verbose_name="mot de passe oublié sans approbation",
            ),
        ),
    ]
