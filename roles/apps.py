"""The roles app: two groups made by a migration, and the domains entrusted to each user."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RolesConfig(AppConfig):
    name = "roles"
    verbose_name = _("Rôles")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .groups import complete_administrators

        # After each app's permissions are made: « Administrateurs » gets those of models
        # added after the roles migration too (everything, as the group's name says).
        post_migrate.connect(complete_administrators, dispatch_uid="roles_complete_administrators")
