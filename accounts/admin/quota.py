"""Quota usage as the mailbox pages show it: « 412 Mo sur 2 Go », a bar, red from 90 %."""

from django.contrib import admin, messages
from django.db.models import CharField, Value
from django.db.models.functions import Concat
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from provisioning import quotas

BAR_COLOURS = {"ok": "#1a7f37", "full": "#cf222e"}


def usage_html(usage: quotas.Usage):
    """The usage's text, after a bar when there is a limit (red once nearly full)."""
    if usage.percent is None:
        return format_html('<span class="quota-usage">{}</span>', usage.text)
    colour = BAR_COLOURS["full" if usage.nearly_full else "ok"]
    return format_html(
        '<span class="quota-usage" title="{}">'
        '<span class="quota-bar" style="display:block;width:8em;height:.7em;'
        'background:#d0d7de;border-radius:3px;margin:.2em 0">'
        '<span style="display:block;width:{}%;height:100%;background:{};border-radius:3px">'
        '</span></span><span style="color:{};white-space:nowrap">{}</span></span>',
        f"{usage.percent} %", usage.percent, colour, colour, usage.text,
    )  # fmt: skip


def attach_usage(mailboxes) -> None:
    """Each mailbox of a page gets `quota_usage` (a Usage, or None): one query for all."""
    usage = quotas.usage_of([mailbox.address for mailbox in mailboxes])
    for mailbox in mailboxes:
        mailbox.quota_usage = usage.get(mailbox.address)


class NearlyFullFilter(admin.SimpleListFilter):
    """The mailboxes that reached 90 % of their quota, as Dovecot counts them."""

    title = _("espace")
    parameter_name = "espace"

    def lookups(self, request, model_admin):
        return [("presque_plein", _("presque plein"))]

    def queryset(self, request, queryset):
        if self.value() != "presque_plein":
            return queryset
        addresses = quotas.nearly_full_addresses()
        if addresses is None:
            messages.warning(
                request, _("La base du serveur mail ne répond pas : l'espace utilisé est inconnu.")
            )
            return queryset.none()
        full = Concat("local_part", Value("@"), "domain__name", output_field=CharField())
        return queryset.annotate(full_address=full).filter(full_address__in=addresses)
