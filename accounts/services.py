"""Member use cases: change a member's name, phone or personal email, with notices.

A change of phone or personal email is announced to the old personal address (and to the
new one) before it is written: whoever changes the phone could then reset the password to
it, so the member must hear of it. The notice cannot be skipped; if it cannot leave,
nothing is changed. Each change, or its refusal, is recorded in the audit trail.
"""

import logging
import unicodedata
from dataclasses import dataclass, field
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import Action, Outcome
from audit.services import Actor, audit_record
from provisioning import emails
from provisioning.exceptions import PermanentError, ProvisioningError
from provisioning.sms.base import mask_phone

from .models import Member
from .validators import (
    LOCAL_PART_MAX,
    normalize_personal_email,
    parse_mobile_phone,
    validate_name_characters,
)

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
    cleaned: dict = {}
    checks = {
        "full_name": lambda: clean_full_name(full_name),
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


def clean_full_name(full_name: str) -> str:
    """The name with its spaces collapsed; never empty, too long, or holding a control or
    format character (ESC, U+202E, U+200B...)."""
    name = " ".join((full_name or "").split())
    if not name:
        raise ValidationError("Indiquez le nom complet du membre.", code="required")
    if len(name) > FULL_NAME_MAX:
        raise ValidationError(f"Le nom compte plus de {FULL_NAME_MAX} caractères.", code="too_long")
    validate_name_characters(full_name)  # as typed: split() turns some controls into spaces
    return name


def suggest_local_part(full_name: str) -> str:
    """`Pierre-Émile Dupont` → `pierre-emile.dupont`: ASCII, lowercase, dots between words."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode().lower()
    words = ["".join(c for c in word if c.isalnum() or c == "-") for word in ascii_name.split()]
    return ".".join(word.strip("-") for word in words if word.strip("-"))[:LOCAL_PART_MAX]


# Which act each field's change is, in the audit trail.
MEMBER_ACTIONS = {
    "phone": Action.PHONE_CHANGE,
    "personal_email": Action.PERSONAL_EMAIL_CHANGE,
    "full_name": Action.MEMBER_NAME_CHANGE,
}


def member_update(
    *, member: Member, full_name: str, personal_email: str, phone, actor: Actor
) -> MemberChange:
    """Validate, send the notice when the phone or personal email changes, then write."""
    typed = {"full_name": full_name, "personal_email": personal_email, "phone": phone}
    stored = Member.objects.get(pk=member.pk)
    try:
        change = _member_update(stored, typed)
    except ValidationError as exc:
        _audit_refused(actor, stored, typed, " ".join(exc.messages))
        raise
    _audit_change(actor, change)
    return change


def _member_update(stored: Member, typed: dict) -> MemberChange:
    if stored.erased_at is not None:
        raise ValidationError(
            "Les données de ce membre ont été effacées avec son adresse : rien n'est modifié."
        )
    data = member_validate(**typed)
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
        emails.send_rendered(
            template="member_changed", context=_notice_context(member, old, new), to=recipients
        )
    except ProvisioningError as exc:
        # No automatic retry here, whatever the gateway says: the person tries again.
        reason = "le serveur d'envoi des emails ne répond pas"
        if isinstance(exc, PermanentError):
            reason = exc.message.rstrip(".")
        raise ValidationError(
            f"Rien n'a été modifié : l'avis au membre n'a pas pu partir ({reason}). "
            "Réessayez plus tard."
        ) from None
    return tuple(recipients)


def _notice_context(member: Member, old: dict, new: dict) -> dict:
    """The change notice: phones masked, as in every email; the password never appears."""
    mailboxes = list(member.mailboxes.select_related("domain"))
    contacts = [m.domain.contact_email for m in mailboxes if m.domain.contact_email]
    return {
        "member": member,
        "addresses": [mailbox.address for mailbox in mailboxes],
        "old_phone": mask_phone(old["phone"]) if old.get("phone") else None,
        "new_phone": mask_phone(new["phone"]) if new.get("phone") else None,
        "old_email": old.get("personal_email"),
        "new_email": new.get("personal_email"),
        "contact": contacts[0] if contacts else parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
    }


# --- audit trail of member edits (who changed which contact detail, and who was told) ---
# The act, never the values: an old or new phone, email or name in the trail would outlive
# the member's erasure (invariant 7).

CHANGED = {
    "phone": "GSM remplacé",
    "personal_email": "email personnel remplacé",
    "full_name": "nom remplacé",
}


def _member_target(member: Member) -> str:
    addresses = [m.address for m in member.mailboxes.select_related("domain")]
    return ", ".join(addresses) or f"membre n°{member.pk}"


def _audit_change(actor: Actor, change: MemberChange) -> None:
    target = _member_target(change.member)
    count = len(change.notified)
    told = f" ; avis envoyé au membre ({count} adresse{'s' if count > 1 else ''})" if count else ""
    for name, action in MEMBER_ACTIONS.items():
        if name in change.new:
            audit_record(actor=actor, action=action, target=target, detail=CHANGED[name] + told)


def _audit_refused(actor: Actor, stored: Member, typed: dict, reason: str) -> None:
    """One refused record per field the person tried to change."""
    checks = {
        "full_name": lambda value: " ".join((value or "").split()),
        "personal_email": lambda value: normalize_personal_email(value or ""),
        "phone": parse_mobile_phone,
    }
    target = _member_target(stored)
    reason = without_values(reason, [*typed.values(), *(getattr(stored, f) for f in typed)])
    for name, action in MEMBER_ACTIONS.items():
        try:
            unchanged = checks[name](typed[name]) == getattr(stored, name)
        except ValidationError:
            unchanged = False
        if not unchanged:
            audit_record(
                actor=actor, action=action, target=target, outcome=Outcome.REFUSED, detail=reason
            )


def without_values(text: str, values) -> str:
    """`text` with each of `values` (what was typed or stored) replaced by `…`: a refusal's
    reason may quote the email or the letters typed, which the trail must not keep."""
    for value in sorted({str(v).strip() for v in values if v}, key=len, reverse=True):
        text = text.replace(value, "…")
    return text
