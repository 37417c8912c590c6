"""The admin's actions on a member's data: « Supprimer » (a confirmation page, with erasure at
once as an explicit choice) and « Exporter les données (JSON) »; both call the use cases."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from provisioning import deletion, memberexport, selectors
from provisioning.erasure import day, erasure_due_at
from provisioning.exceptions import ProvisioningError
from roles import access

LATER, NOW = "later", "now"


class DeleteMailboxesForm(forms.Form):
    erase = forms.ChoiceField(
        label=_("Données du membre"),
        widget=forms.RadioSelect,
        initial=LATER,
        choices=[
            (LATER, _("Les effacer après le délai de conservation")),
            (NOW, _("Les effacer tout de suite (irréversible)")),
        ],
    )


def delete_action(model_admin, request, queryset):
    """The confirmation page, then `mailbox_delete` for each mailbox; its report in French."""
    queryset = queryset.select_related("domain", "member").order_by("domain__name", "local_part")
    form = DeleteMailboxesForm(request.POST if "confirm" in request.POST else None)
    if form.is_bound and form.is_valid():
        erase_now = form.cleaned_data["erase"] == NOW
        names = access.managed_domain_names(request.user)
        for mailbox in queryset:
            _delete_one(model_admin, request, mailbox, erase_now, names)
        return None
    names = access.managed_domain_names(request.user)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Supprimer des adresses"),
        "opts": model_admin.model._meta,
        "mailboxes": [
            (
                mailbox,
                [
                    a.address
                    for a, _via in selectors.aliases_reaching(mailbox.address, domains=names)
                ],
            )
            for mailbox in queryset
        ],
        "retention_days": settings.MEMBER_RETENTION_DAYS,
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/accounts/mailbox/delete_mailboxes.html", context)


def _delete_one(model_admin, request, mailbox, erase_now: bool, names) -> None:
    try:
        outcome = deletion.mailbox_delete(
            mailbox=mailbox, actor=Actor.from_request(request), erase_now=erase_now
        )
    except ValidationError as exc:
        model_admin.message_user(request, " ".join(exc.messages), messages.WARNING)
        return
    except ProvisioningError as exc:
        model_admin.message_user(
            request, f"{mailbox.address} : {exc.message} Rien n'a été modifié.", messages.ERROR
        )
        return
    address = outcome.mailbox.address
    reaching = [alias for alias in outcome.reaching if access.shows_address(names, alias)]
    if reaching and not outcome.erased:
        model_admin.message_user(
            request,
            _("Alias qui mènent encore à %(address)s : %(aliases)s ; cette adresse en sera "
              "retirée à l'effacement de ses données.")
            % {"address": address, "aliases": ", ".join(reaching)},
            messages.WARNING,
        )  # fmt: skip
    if outcome.erased:
        text = _("%(address)s : supprimée, et les données du membre sont effacées.")
        model_admin.message_user(request, text % {"address": address})
    elif outcome.erase_error:
        text = _("%(address)s : supprimée, mais pas encore effacée : %(error)s")
        model_admin.message_user(
            request, text % {"address": address, "error": outcome.erase_error}, messages.ERROR
        )
    else:
        text = _(
            "%(address)s : supprimée, plus aucune connexion possible ; les données du membre "
            "seront effacées le %(date)s."
        )
        model_admin.message_user(
            request, text % {"address": address, "date": day(erasure_due_at(outcome.mailbox))}
        )


def export_action(model_admin, request, members):
    """One member's JSON, to download (a data access request is one person's)."""
    members = list(members.distinct()[:2])
    if len(members) != 1:
        model_admin.message_user(
            request, _("Choisissez un seul membre à la fois pour exporter ses données."),
            messages.WARNING,
        )  # fmt: skip
        return None
    [member] = members
    document = memberexport.member_export(
        member=member,
        actor=Actor.from_request(request),
        domains=access.managed_domain_names(request.user),
    )
    response = HttpResponse(
        memberexport.member_json(document), content_type="application/json; charset=utf-8"
    )
    name = f"donnees-membre-{member.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
