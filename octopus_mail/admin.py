"""The admin site: nothing in it is reachable without a verified second factor."""

from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite


class OctopusAdminSite(OTPAdminSite):
    site_header = _("Octopus-Soignies — adresses mail")
    site_title = _("Octopus-Soignies")
    index_title = _("Administration des adresses mail")
