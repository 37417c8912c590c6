"""Validation of what an administrator types: local parts, phones, personal emails."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email
from phonenumber_field.phonenumber import PhoneNumber
from phonenumbers import NumberParseException, PhoneNumberType, is_valid_number, number_type

from provisioning import dns

LOCAL_PART_MAX = 64
# Lowercase letters, digits, and dots, hyphens or underscores between them.
_LOCAL_PART = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def validate_local_part(value: str) -> None:
    if not value:
        raise ValidationError(_("Indiquez la partie avant le @."), code="required")
    if len(value) > LOCAL_PART_MAX:
        raise ValidationError(
            _("La partie avant le @ compte %(count)d caractères ; 64 au maximum.")
            % {"count": len(value)},
            code="too_long",
        )
    if value != value.lower():
        raise ValidationError(
            _("Utilisez des minuscules : « %(value)s » s'écrirait « %(lower)s ».")
            % {"value": value, "lower": value.lower()},
            code="uppercase",
        )
    if not _LOCAL_PART.match(value):
        raise ValidationError(
            _(
                "« %(value)s » n'est pas accepté : lettres minuscules sans accent, chiffres, "
                "et . - _ entre deux caractères, sans espace."
            )
            % {"value": value},
            code="invalid",
        )


def validate_mobile_phone(value) -> None:
    """Only a valid mobile number can receive the password by SMS."""
    parse_mobile_phone(value)


def parse_mobile_phone(value, region: str = "BE") -> PhoneNumber:
    """A PhoneNumber (stored as E.164) from text such as `0470 12 34 56` or `+32470123456`."""
    if isinstance(value, PhoneNumber):
        number = value
    else:
        try:
            number = PhoneNumber.from_string(str(value or "").strip(), region=region)
        except NumberParseException:
            raise ValidationError(
                _("Numéro de GSM illisible : écrivez-le par exemple +32 470 12 34 56."),
                code="unparseable",
            ) from None
    if not is_valid_number(number):
        raise ValidationError(_("Ce numéro de téléphone n'existe pas."), code="invalid")
    if number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(
            _("Ce numéro n'est pas un numéro de GSM : il ne peut pas recevoir de SMS."),
            code="not_mobile",
        )
    return number


def normalize_personal_email(value: str) -> str:
    """The normalized address, or a ValidationError in French. No DNS query here."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError(
            _("« %(value)s » n'est pas une adresse email valide.") % {"value": value},
            code="invalid",
        ) from None


def personal_email_warning(address: str) -> str | None:
    """A French warning when a member's personal address cannot receive mail; never blocks."""
    problem = dns.email_domain_problem(address)
    if not problem:
        return None
    return (
        f"Attention : {problem}. L'email de confirmation envoyé à {address} risque de ne "
        "jamais arriver : vérifiez l'adresse personnelle du membre."
    )
