"""Forms of the public pages and of the admin's import and refusal pages."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.forms import ServiceValidationMixin
from accounts.models import Domain

from . import csvfile, services


class AddressRequestForm(ServiceValidationMixin, forms.Form):
    full_name = forms.CharField(label=_("Nom et prénom"), max_length=200)
    local_part = forms.CharField(
        label=_("Adresse souhaitée"),
        max_length=64,
        required=False,
        help_text=_("Proposée à partir de votre nom ; en minuscules, sans accent ni espace."),
    )
    personal_email = forms.CharField(
        label=_("Votre email personnel"),
        max_length=254,
        help_text=_("Vous y recevrez un lien pour confirmer la demande, puis les réglages."),
    )
    phone = forms.CharField(
        label=_("Votre GSM"),
        max_length=32,
        help_text=_("Le mot de passe vous sera envoyé par SMS. Par exemple 0470 12 34 56."),
    )
    message = forms.CharField(
        label=_("Un mot pour l'administrateur (facultatif)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, domain: Domain, **kwargs):
        super().__init__(*args, **kwargs)
        self.domain = domain
        attributes = {
            "full_name": {"autocomplete": "name"},
            "local_part": {"autocapitalize": "none", "spellcheck": "false"},
            "personal_email": {"autocomplete": "email", "inputmode": "email"},
            "phone": {"autocomplete": "tel", "inputmode": "tel"},
        }
        for name, attrs in attributes.items():
            self.fields[name].widget.attrs.update(attrs)

    def clean(self):
        data = super().clean()
        data.update(
            self.validate_with(
                lambda: services.member_request_validate(
                    full_name=data.get("full_name", ""),
                    local_part=data.get("local_part", ""),
                    domain=self.domain,
                    personal_email=data.get("personal_email", ""),
                    phone=data.get("phone", ""),
                )
            )
        )
        return data


class PasswordRequestForm(forms.Form):
    address = forms.CharField(
        label=_("Votre adresse de l'association"),
        max_length=254,
        widget=forms.TextInput(
            attrs={"inputmode": "email", "autocomplete": "username", "autocapitalize": "none"}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].help_text = _("Par exemple pierre@%(domain)s.") % {
            "domain": settings.MAIL_DOMAIN
        }

    def clean_address(self) -> str:
        address = self.cleaned_data["address"].strip().lower()
        if "@" not in address:
            address = f"{address}@{settings.MAIL_DOMAIN}"
        local_part, _at, domain = address.rpartition("@")
        if not local_part or not domain or " " in address:
            raise ValidationError(
                _("« %(value)s » n'est pas une adresse complète (nom@domaine).")
                % {"value": self.cleaned_data["address"]}
            )
        return address


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=_("Raison (facultative, envoyée au membre)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Fichier CSV"),
        help_text=_(
            "Une ligne par membre, sous une première ligne qui nomme les colonnes : nom, "
            "adresse, email personnel, gsm (dans n'importe quel ordre). Séparateur virgule ou "
            "point-virgule ; UTF-8 ou Windows-1252, comme l'enregistrent les tableurs."
        ),
    )
    domain = forms.ModelChoiceField(
        label=_("Domaine"),
        queryset=Domain.objects.all(),
        help_text=_("Pour les adresses écrites sans @domaine."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > csvfile.MAX_BYTES:
            raise ValidationError(
                _("Le fichier pèse %(size)d Ko ; %(max)d Mo au maximum : découpez-le.")
                % {"size": upload.size // 1024, "max": csvfile.MAX_BYTES // 1024 // 1024}
            )
        return upload
