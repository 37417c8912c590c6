"""Member use cases: change a member's name, phone or personal email, with notices.

A change of phone or personal email is announced to the old personal address (and to the
new one) before it is written: whoever changes the phone could then reset the password to
it, so the member must hear of it. The notice cannot be skipped; if it cannot leave,
nothing is changed.
"""

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from provisioning import emails
from provisioning.exceptions import ProvisioningError

from .models import Member
from .validators import normalize_personal_email, parse_mobile_phone

logger = logging.getLogger(__name__)
NOTIFIED_FIELDS = ("phone", "personal_email")
FULL_NAME_MAX = Member._meta.get_field("full_name").max_length


@dataclass(frozen=True)
class MemberChange:
    member: Member
    old: dict = field(default_factory=dict)  # field name -> value before, for changed fields
    new: dict = field(default_factory=dict)
    notified: tuple[str, ...] = ()  # the addresses the notice went to

    @property
    def changed(self) -> bool:
        return bool(self.new)


def member_validate(*, full_name: str, personal_email: str, phone) -> dict:
    """Every field checked before anything is written; errors keyed by field, in French."""
    errors: dict[str, list[str]] = {}
    cleaned: dict = {"full_name": " ".join((full_name or "").split())}
    if not cleaned["full_name"]:
        errors["full_name"] = ["Indiquez le nom complet du membre."]
    elif len(cleaned["full_name"]) > FULL_NAME_MAX:
        errors["full_name"] = [f"Le nom compte plus de {FULL_NAME_MAX} caractères."]
    checks = {
        "personal_email": lambda: normalize_personal_email(personal_email or ""),
        "phone": lambda: parse_mobile_phone(phone),
    }
    for name, check in checks.items():
        try:
            cleaned[name] = check()
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    return cleaned


def member_update(*, member: Member, full_name: str, personal_email: str, phone) -> MemberChange:
    """Validate, send the notice when the phone or personal email changes, then write."""
    data = member_validate(full_name=full_name, personal_email=personal_email, phone=phone)
    stored = Member.objects.get(pk=member.pk)
    old = {name: getattr(stored, name) for name in data if getattr(stored, name) != data[name]}
    new = {name: data[name] for name in old}
    if not new:
        return MemberChange(member=stored)
    notified: tuple[str, ...] = ()
    if any(name in new for name in NOTIFIED_FIELDS):
        notified = _notify(stored, old=old, new=new)
    with transaction.atomic():
        Member.objects.filter(pk=stored.pk).update(**new, updated_at=timezone.now())
    stored.refresh_from_db()
    logger.info("member %s changed: %s", stored.pk, ", ".join(sorted(new)))
    return MemberChange(member=stored, old=old, new=new, notified=notified)


def _notify(member: Member, *, old: dict, new: dict) -> tuple[str, ...]:
    recipients = [member.personal_email]
    if "personal_email" in new and new["personal_email"] != member.personal_email:
        recipients.append(new["personal_email"])
    try:
        emails.send_member_change_notice(member=member, old=old, new=new, to=recipients)
    except ProvisioningError as exc:
        raise ValidationError(
            f"Rien n'a été modifié : l'avis au membre n'a pas pu partir ({exc.message}). "
            "Réessayez plus tard."
        ) from None
    return tuple(recipients)
