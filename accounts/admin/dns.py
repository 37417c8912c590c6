"""The domain's DNS health page in the admin: one row a check, its colour, text and record."""

from django.contrib import admin
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from provisioning import dns, dnshealth

COLOURS = {"ok": "#1a7f37", "warning": "#9a6700", "error": "#cf222e", "unknown": "#6e7781"}


class DnsHealthAdminMixin:
    """Adds /admin/accounts/domain/<id>/dns/ and a link to it on the list and change pages."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.dns_health_view)
        return [
            path("<path:object_id>/dns/", view, name="accounts_domain_dns"),
            *super().get_urls(),
        ]

    @admin.display(description=_("santé du DNS"))
    def dns_health_link(self, obj):
        if not obj or not obj.pk:
            return "—"
        url = reverse("admin:accounts_domain_dns", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Vérifier le DNS"))

    def dns_health_view(self, request, object_id):
        domain = self.get_object(request, object_id)
        if domain is None or not self.has_view_permission(request, domain):
            raise Http404
        findings = dnshealth.domain_check_dns(domain=domain)
        rows = [
            {
                "finding": finding,
                "colour": COLOURS[finding.level if finding.conclusive else "unknown"],
            }
            for finding in findings
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": domain,
            "title": _("Santé du DNS de %(domain)s") % {"domain": domain.name},
            "rows": rows,
            "nameservers": dns.describe_nameservers(),
            "errors": sum(f.conclusive and f.level == dnshealth.ERROR for f in findings),
        }
        return TemplateResponse(request, "admin/accounts/domain/dns_health.html", context)
