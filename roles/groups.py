"""The two groups and what each may do. The roles migration made them; this module names them
and keeps « Administrateurs » whole when later migrations add models (post_migrate)."""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS, router

ADMINISTRATORS = "Administrateurs"
MANAGERS = "Gestionnaires"


def complete_administrators(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    """Give « Administrateurs » the permissions of `sender`'s models (everything, always).

    Runs after django.contrib.auth has made those permissions (its receiver is connected
    first). A permission taken from the group by hand comes back at the next migrate: the
    group means everything; make another group for less.
    """
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    if not router.allow_migrate_model(using, Group):
        return
    group = Group.objects.using(using).filter(name=ADMINISTRATORS).first()
    if group is None:
        return
    permissions = Permission.objects.using(using).filter(content_type__app_label=sender.label)
    group.permissions.add(*permissions)
