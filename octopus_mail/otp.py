"""Second factor use cases: enrol a TOTP device, issue backup codes, reset a user's devices."""

import io
import re
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODES = 10
BACKUP_DEVICE_NAME = "secours"


def needs_second_factor(user) -> bool:
    """A staff member who gave their password but not yet a token (or has no device yet)."""
    return (
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and not (hasattr(user, "is_verified") and user.is_verified())
    )


def has_confirmed_device(user) -> bool:
    return user_has_device(user, confirmed=True)


def totp_device_pending(*, user) -> TOTPDevice:
    """The unconfirmed device being enrolled (the same one on reload), made when missing."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        count = TOTPDevice.objects.filter(user=user).count()
        name = "téléphone" if count == 0 else f"téléphone {count + 1}"
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=False)
    return device


@sensitive_variables("token", "codes")
def totp_device_confirm(*, device: TOTPDevice, token: str) -> tuple[TOTPDevice, list[str]]:
    """Activate the device once it accepted one token; returns it and ten new backup codes.

    The old backup codes stop working: the new ones are shown once, on the next page.
    """
    token = "".join((token or "").split())
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        allowed, _extra = locked.verify_is_allowed()
        # verify_token counts a failure on the device (its own throttle): kept on commit.
        verified = allowed and not locked.confirmed and locked.verify_token(token)
        if verified:
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
            codes = backup_codes_issue(user=locked.user)
    if locked.confirmed and not verified:
        raise ValidationError("Cet appareil est déjà activé.", code="confirmed")
    if not allowed:
        raise ValidationError(
            "Trop de codes refusés d'affilée : attendez un moment avant de réessayer.",
            code="throttled",
        )
    if not verified:
        raise ValidationError(
            "Code refusé : saisissez le code à six chiffres affiché maintenant par "
            "l'application (l'heure du téléphone doit être juste).",
            code="invalid_token",
        )
    return locked, codes


@sensitive_variables("codes")
def backup_codes_issue(*, user) -> list[str]:
    """Ten new single-use codes on the user's « secours » device; the old ones are deleted."""
    with transaction.atomic():
        device, _created = StaticDevice.objects.get_or_create(
            user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
        )
        if not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def otp_devices_reset(*, user, by) -> int:
    """Delete every device of `user`: their next login leads to a new enrolment.

    Sessions verified by a deleted device stop being verified at their next request.
    """
    if user.pk == by.pk:
        raise ValidationError(
            "Vous ne pouvez pas réinitialiser votre propre second facteur : demandez-le à un "
            "autre superutilisateur."
        )
    with transaction.atomic():
        totp, _ = TOTPDevice.objects.filter(user=user).delete()
        static = StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
    return totp + static


def secret_text(device: TOTPDevice) -> str:
    """The secret in base 32, by groups of four, for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(text: str) -> str:
    """An inline SVG QR code (no image file, no outside request)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    svg = svg[svg.index("<svg") :]  # no XML declaration inside HTML
    # Drawn in millimetres by default: a fixed size on screen, easy to scan.
    return re.sub(r'width="[^"]+" height="[^"]+"', 'width="240" height="240"', svg, count=1)
