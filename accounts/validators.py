"""Validation of what an administrator types: local parts, phones, personal emails."""

import re
import unicodedata

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
# Control (Cc) and format (Cf) characters: ESC, U+0001, bidi overrides (U+202E), zero-width
# spaces (U+200B)... invisible or dangerous in a name, and XML (an Apple profile) cannot
# hold most of them. Tab and line breaks are left to the name's whitespace normalization.
_INVISIBLE = {"Cc", "Cf"}
_ORDINARY_WHITESPACE = {"\t", "\n", "\r"}


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


def invisible_characters(value: str) -> list[str]:
    """The control and format characters in `value`, as code points (`U+202E`), once each."""
    found = {
        f"U+{ord(char):04X}"
        for char in value
        if unicodedata.category(char) in _INVISIBLE and char not in _ORDINARY_WHITESPACE
    }
    return sorted(found)


def validate_name_characters(value: str) -> None:
    """A name holds no control or format character (ESC, U+202E, U+200B...)."""
    found = invisible_characters(value or "")
    if found:
        raise ValidationError(
            _(
                "Le nom contient un caractère invisible ou de contrôle (%(codes)s) : "
                "retapez-le au clavier plutôt que de le copier-coller."
            )
            % {"codes": ", ".join(found)},
            code="invisible_character",
        )


def without_invisible_characters(value: str) -> str:
    """`value` without its control and format characters: for a name stored before they
    were refused, on its way to a format that cannot hold them (an Apple profile's XML)."""
    return "".join(
        char
        for char in value
        if unicodedata.category(char) not in _INVISIBLE or char in _ORDINARY_WHITESPACE
    )


def validate_mobile_phone(value) -> None:
    """Only a valid mobile number can receive the password by SMS."""
    parse_mobile_phone(value)


def parse_mobile_phone(value, region: str = "BE") -> PhoneNumber:
    """A PhoneNumber (stored as E.164) from text such as `0470 12 34 56` or `+32470123456`."""
    if isinstance(value, PhoneNumber):
        number = value
    else:
        text = str(value or "").strip()
        try:
            number = PhoneNumber.from_string(text, region=region)
        except NumberParseException:
            raise ValidationError(
                _("Numéro de GSM illisible : écrivez-le par exemple +32 470 12 34 56."),
                code="unparseable",
            ) from None
        _refuse_letters(text)
    if not is_valid_number(number):
        raise ValidationError(_("Ce numéro de téléphone n'existe pas."), code="invalid")
    if number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(
            _("Ce numéro n'est pas un numéro de GSM : il ne peut pas recevoir de SMS."),
            code="not_mobile",
        )
    return number


def _refuse_letters(text: str) -> None:
    """The phone library reads letters as a keypad's (`0470 CALLME` is +32470225563): an SMS
    would go to a number nobody typed, so a number is written in digits only."""
    letters = "".join(char for char in text if char.isalpha())
    if letters:
        raise ValidationError(
            _(
                "Numéro de GSM illisible : il contient des lettres (« %(letters)s ») ; "
                "écrivez-le en chiffres, par exemple +32 470 12 34 56."
            )
            % {"letters": letters[:20]},
            code="letters",
        )


def normalize_personal_email(value: str) -> str:
    """The normalized address, or a ValidationError in French. No DNS query here.

    A domain may be internationalized (it is sent in its xn-- form), but not the part
    before the @: it would need SMTPUTF8, which Django does not speak, and the message
    would never arrive.
    """
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            _("« %(value)s » n'est pas une adresse email valide.") % {"value": value},
            code="invalid",
        ) from None
    if not result.local_part.isascii():
        raise ValidationError(
            _(
                "« %(value)s » n'est pas accepté : la partie avant le @ doit s'écrire sans "
                "accent ni caractère non latin, sinon l'email n'arrive pas."
            )
            % {"value": value},
            code="non_ascii_local_part",
        )
    return result.normalized


def personal_email_warning(address: str) -> str | None:
    """A French warning when a member's personal address cannot receive mail; never blocks."""
    problem = dns.email_domain_problem(address)
    if not problem:
        return None
    return (
        f"Attention : {problem}. L'email de confirmation envoyé à {address} risque de ne "
        "jamais arriver : vérifiez l'adresse personnelle du membre."
    )
