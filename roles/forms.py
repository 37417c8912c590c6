"""Forms as a gestionnaire sees them: only their domains to choose, and the user page's
« Domaines confiés » for an administrator."""

import re

from django import forms
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import Domain

from . import access

SEPARATORS = re.compile(r"[\s,;]+")  # as the alias service splits destinations


def limit_domain_choices(form: forms.BaseForm, user) -> None:
    """Every choice of a domain in `form` offers only the domains `user` manages; another
    domain's id, posted by hand, is refused as an unknown choice."""
    ids = access.managed_domain_ids(user)
    if ids is None:
        return
    for field in form.fields.values():
        if isinstance(field, forms.ModelChoiceField) and field.queryset.model is Domain:
            field.queryset = field.queryset.filter(pk__in=ids)


def scoped_form(form_class: type[forms.BaseForm], user) -> type[forms.BaseForm]:
    """`form_class`, its domain choices limited to `user`'s domains."""
    if access.managed_domain_ids(user) is None:
        return form_class

    class ScopedForm(form_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            limit_domain_choices(self, user)

    ScopedForm.__name__ = form_class.__name__
    return ScopedForm


def scoped_alias_form(form_class: type[forms.BaseForm], user) -> type[forms.BaseForm]:
    """An alias form that names no address of a domain hosted here but not `user`'s: such a
    destination is refused before the alias service says whether it exists."""
    scoped = scoped_form(form_class, user)
    if scoped is form_class:
        return form_class

    class ScopedAliasForm(scoped):
        def clean_destinations(self):
            text = self.cleaned_data["destinations"]
            foreign = access.hosted_elsewhere(user, SEPARATORS.split(text))
            if foreign:
                raise ValidationError(
                    _("%(addresses)s : pas dans vos domaines ; un administrateur peut le faire.")
                    % {"addresses": ", ".join(foreign)}
                )
            return text

    return ScopedAliasForm


class StaffChangeForm(UserChangeForm):
    """Django's user form, plus the domains entrusted to the user (as a gestionnaire)."""

    domains = forms.ModelMultipleChoiceField(
        label=_("Domaines confiés"),
        queryset=Domain.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Un membre du groupe « Gestionnaires » ne voit et ne traite que les adresses, "
            "membres, alias, demandes et imports de ces domaines ; sans domaine, rien. Un "
            "membre du groupe « Administrateurs » (ou un superutilisateur) les voit tous."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["domains"] = list(
                self.instance.domain_delegations.values_list("domain_id", flat=True)
            )
