"""The mailbox creation form: every field is checked by the service before anything is saved."""

import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from provisioning import dnschecks, services

from . import services as member_services
from .models import Mailbox, Member
from .validators import LOCAL_PART_MAX


def suggest_local_part(full_name: str) -> str:
    """`Pierre-Émile Dupont` → `pierre-emile.dupont`: ASCII, lowercase, dots between words."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode().lower()
    words = ["".join(c for c in word if c.isalnum() or c == "-") for word in ascii_name.split()]
    return ".".join(word.strip("-") for word in words if word.strip("-"))[:LOCAL_PART_MAX]


class MailboxCreationForm(forms.ModelForm):
    full_name = forms.CharField(label=_("Nom complet du membre"), max_length=200)
    personal_email = forms.CharField(
        label=_("Email personnel"),
        max_length=254,
        help_text=_("La confirmation et les réglages y sont envoyés (jamais le mot de passe)."),
    )
    phone = forms.CharField(
        label=_("GSM"),
        max_length=32,
        help_text=_("Le mot de passe y est envoyé par SMS. Par exemple 0470 12 34 56."),
    )

    class Meta:
        model = Mailbox
        fields = ["full_name", "local_part", "domain", "personal_email", "phone"]
        help_texts = {
            "local_part": _("Proposé à partir du nom ; en minuscules, sans accent ni espace."),
        }

    # Set by clean(): shown after the save, never a reason to refuse it.
    personal_email_warning: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["local_part"].required = False
        self.fields["local_part"].validators = []  # the service checks it, once, in French

    def clean(self):
        data = super().clean()
        if not self.errors.get("full_name") and not data.get("local_part"):
            data["local_part"] = suggest_local_part(data.get("full_name", ""))
        if "domain" not in data:
            return data
        try:
            data.update(
                services.mailbox_validate(
                    local_part=data.get("local_part", ""),
                    domain=data["domain"],
                    full_name=data.get("full_name", ""),
                    personal_email=data.get("personal_email", ""),
                    phone=data.get("phone", ""),
                )
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field not in self.errors:
                    self.add_error(field, messages)
        else:
            # No MX and no address for the personal email's domain: a warning, after the save.
            # A DNS timeout or failure gives none (bounded by DNS_LIFETIME).
            self.personal_email_warning = dnschecks.personal_email_warning(data["personal_email"])
        return data


class MemberChangeForm(forms.ModelForm):
    """A member's name and contact details, checked by the service that also tells them."""

    personal_email = forms.CharField(
        label=_("Email personnel"),
        max_length=254,
        help_text=_("Un changement est annoncé au membre, à l'ancienne adresse et à la nouvelle."),
    )
    phone = forms.CharField(
        label=_("GSM"),
        max_length=32,
        help_text=_(
            "Les nouveaux mots de passe y sont envoyés par SMS ; un changement est annoncé "
            "au membre par email. Par exemple 0470 12 34 56."
        ),
    )

    class Meta:
        model = Member
        fields = ["full_name", "personal_email", "phone"]

    def clean(self):
        data = super().clean()
        try:
            data.update(
                member_services.member_validate(
                    full_name=data.get("full_name", ""),
                    personal_email=data.get("personal_email", ""),
                    phone=data.get("phone", ""),
                )
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field not in self.errors:
                    self.add_error(field, messages)
        return data
