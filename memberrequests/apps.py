"""Members ask on public pages, the administrator approves; whole groups imported from a CSV."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MemberRequestsConfig(AppConfig):
    name = "memberrequests"
    verbose_name = _("Demandes et imports")
