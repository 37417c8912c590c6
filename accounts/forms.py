"""The mailbox and member forms: every field is checked by the service before anything is saved."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from provisioning import services

from . import services as member_services
from .models import Mailbox, Member
from .validators import personal_email_warning


class ServiceValidationMixin:
    """Runs a service's validation in `clean()`; its errors, keyed by field, go on the form."""

    def validate_with(self, check) -> dict:
        """`check()`'s cleaned values, or {} once its errors are on the form's fields."""
        try:
            return check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field not in self.errors:
                    self.add_error(field, messages)
            return {}


class MailboxCreationForm(ServiceValidationMixin, forms.ModelForm):
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
            data["local_part"] = member_services.suggest_local_part(data.get("full_name", ""))
        if "domain" not in data:
            return data
        cleaned = self.validate_with(
            lambda: services.mailbox_validate(
                local_part=data.get("local_part", ""),
                domain=data["domain"],
                full_name=data.get("full_name", ""),
                personal_email=data.get("personal_email", ""),
                phone=data.get("phone", ""),
                allow_reserved=True,  # the administrator may, with a warning after the save
            )
        )
        if cleaned:
            data.update(cleaned)
            # No MX and no address for the personal email's domain: a warning, after the save.
            # A DNS timeout or failure gives none (bounded by DNS_LIFETIME).
            self.personal_email_warning = personal_email_warning(data["personal_email"])
        return data


class MemberChangeForm(ServiceValidationMixin, forms.ModelForm):
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
        data.update(
            self.validate_with(
                lambda: member_services.member_validate(
                    full_name=data.get("full_name", ""),
                    personal_email=data.get("personal_email", ""),
                    phone=data.get("phone", ""),
                )
            )
        )
        return data
