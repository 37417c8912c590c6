"""The admin's forms: every field is checked by the service before anything is saved."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from provisioning import aliases, quotas, services

from . import services as member_services
from .models import Alias, Domain, Mailbox, Member
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


class QuotaField(forms.CharField):
    """A size typed as `500M`, `2G` or `0` (no limit), held in bytes; empty: `None`."""

    def prepare_value(self, value):
        return quotas.size_for_input(value) if isinstance(value, int) else value

    def to_python(self, value):
        text = super().to_python(value).strip()
        return quotas.parse_size(text) if text else None


class DomainForm(forms.ModelForm):
    default_quota = QuotaField(
        label=_("Quota par défaut"),
        widget=forms.TextInput(attrs={"size": 8, "maxlength": 20}),
        help_text=_(
            "L'espace de chaque adresse du domaine, sauf exception : 500M, 2G ; 0 : sans limite."
        ),
    )

    class Meta:
        model = Domain
        fields = ["default_quota"]  # the admin's fieldsets name the others

    def clean_default_quota(self):
        return self.cleaned_data["default_quota"] or 0


class MailboxChangeForm(forms.ModelForm):
    """The one thing edited on a mailbox's page: its quota (through mailbox_set_quota)."""

    quota = QuotaField(
        label=_("Quota"),
        widget=forms.TextInput(attrs={"size": 8, "maxlength": 20}),
        required=False,
        help_text=_("500M, 2G ; 0 : sans limite ; vide : le quota par défaut du domaine."),
    )

    class Meta:
        model = Mailbox
        fields = ["quota"]


class AliasForm(ServiceValidationMixin, forms.ModelForm):
    """An alias and its destinations, one per line, checked by the alias service."""

    destinations = forms.CharField(
        label=_("Destinations"),
        widget=forms.Textarea(attrs={"rows": 8, "cols": 50}),
        help_text=_(
            "Une adresse par ligne : une adresse mail d'ici, un autre alias, ou une adresse "
            "extérieure (100 au plus)."
        ),
    )

    class Meta:
        model = Alias
        fields = ["local_part", "domain", "destinations", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["destinations"] = "\n".join(
                self.instance.destinations.values_list("address", flat=True)
            )
        if "local_part" in self.fields:
            self.fields["local_part"].validators = []  # the service checks it, once, in French

    def source(self, data) -> str | None:
        if self.instance.pk:
            return self.instance.address
        if data.get("domain") is None:
            return None
        return f"{(data.get('local_part') or '').strip().lower()}@{data['domain'].name}"

    def clean(self):
        data = super().clean()
        self._validate_unique = False  # the service's checks say it in French
        source = self.source(data)
        if source is None or "destinations" not in data:
            return data

        def check():
            try:
                aliases.alias_check(
                    source=source,
                    destinations=data["destinations"],
                    new=not self.instance.pk,
                    with_warnings=False,
                )
            except ValidationError as exc:
                errors = exc.message_dict
                if "source" in errors:
                    errors["local_part"] = errors.pop("source")
                raise ValidationError(errors) from None
            return {}

        self.validate_with(check)
        return data
