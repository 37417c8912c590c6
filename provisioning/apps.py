"""How accounts are provisioned: jobs, the worker's steps and the gateways to outside systems."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = _("Envois des mots de passe")

    def ready(self) -> None:
        from . import checks, passwords

        # An unknown scheme stops every process at start-up, never a silent fallback.
        passwords.check_scheme_setting()
        checks.register()
