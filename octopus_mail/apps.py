"""Makes the OTP-protected admin site the default one."""

from django.contrib.admin.apps import AdminConfig


class OctopusAdminConfig(AdminConfig):
    default_site = "octopus_mail.admin.OctopusAdminSite"
