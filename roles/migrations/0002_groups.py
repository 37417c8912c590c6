"""The groups « Administrateurs » (every permission) and « Gestionnaires » (members' data of
the domains entrusted to them: view, add, change; no deletion, no domain, user, device,
lockout, audit or API token).

The permissions are made here, as django.contrib.auth would after the migration, so that the
groups get them on a fresh database. The lists are frozen: a later change is a new migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMINISTRATORS = "Administrateurs"
MANAGERS = "Gestionnaires"
VIEW_ADD_CHANGE = ("view", "add", "change")
MANAGERS_PERMISSIONS = {
    "accounts": {
        "mailbox": VIEW_ADD_CHANGE,
        "member": VIEW_ADD_CHANGE,
        "alias": VIEW_ADD_CHANGE,
        "aliasdestination": VIEW_ADD_CHANGE,
    },
    "memberrequests": {
        "memberrequest": VIEW_ADD_CHANGE,
        "memberimport": VIEW_ADD_CHANGE,
        "memberimportrow": VIEW_ADD_CHANGE,
    },
    "provisioning": {"provisioningjob": ("view",)},
}


def create_groups(apps, schema_editor):
    alias = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips apps without models
        create_permissions(app_config, verbosity=0, using=alias, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission").objects.using(alias)
    administrators, _ = Group.objects.using(alias).get_or_create(name=ADMINISTRATORS)
    administrators.permissions.add(*Permission.all())
    managers, _ = Group.objects.using(alias).get_or_create(name=MANAGERS)
    for app_label, models in MANAGERS_PERMISSIONS.items():
        for model, actions in models.items():
            codenames = [f"{action}_{model}" for action in actions]
            found = Permission.filter(content_type__app_label=app_label, codename__in=codenames)
            if found.count() != len(codenames):
                raise RuntimeError(f"permissions missing for {app_label}.{model}")
            managers.permissions.add(*found)


def delete_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(
        name__in=[ADMINISTRATORS, MANAGERS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("roles", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0006_domain_self_service_reset"),
        ("memberrequests", "0002_request_superseded_and_asked_address"),
        ("provisioning", "0005_job_retrying_since"),
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
