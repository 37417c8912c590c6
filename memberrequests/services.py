"""Use cases of members' requests: submit, confirm by email, approve, refuse; their emails.

Every mailbox is created, every password reset started, by the same provisioning services
the administrator's own form and actions use. The CSV import's use cases are in imports.py.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Domain, Mailbox
from accounts.services import suggest_local_part
from accounts.validators import normalize_personal_email, parse_mobile_phone
from audit.models import Action
from audit.services import Actor, audited
from provisioning import emails as provisioning_emails
from provisioning import selectors
from provisioning import services as provisioning
from provisioning.exceptions import PermanentError, ProvisioningError

from . import emails, tasks
from .models import MemberRequest

logger = logging.getLogger(__name__)
Kind, Status = MemberRequest.Kind, MemberRequest.Status
CONFIRMATION_MAX_AGE = timedelta(hours=48)
_TOKEN_SALT = "memberrequests.confirm"


# --- A member asks --------------------------------------------------------------------------


def member_request_validate(
    *, full_name: str, local_part: str, domain: Domain, personal_email: str, phone
) -> dict:
    """mailbox_validate's checks, except that a taken address is not told on a public page:
    the administrator sees it in the queue, and the approval refuses it."""
    local_part = (local_part or "").strip() or suggest_local_part(full_name or "")
    fields = {"full_name": full_name, "personal_email": personal_email, "phone": phone}
    try:
        return provisioning.mailbox_validate(local_part=local_part, domain=domain, **fields)
    except ValidationError as exc:
        errors = exc.message_dict
    if "local_part" in errors and address_taken(local_part=local_part, domain=domain):
        del errors["local_part"]
    if errors:
        raise ValidationError(errors)
    return {
        "domain": domain,
        "full_name": " ".join(full_name.split()),
        "local_part": local_part.lower(),
        "personal_email": normalize_personal_email(personal_email),
        "phone": parse_mobile_phone(phone),
    }


def address_taken(*, local_part: str, domain: Domain) -> bool:
    return Mailbox.objects.filter(domain=domain, local_part__iexact=local_part.strip()).exists()


def member_request_address_submit(
    *, full_name: str, local_part: str, domain: Domain, personal_email: str, phone, message=""
) -> MemberRequest:
    """Record the request and mail the confirmation link; the same request twice is one."""
    data = member_request_validate(
        full_name=full_name,
        local_part=local_part,
        domain=domain,
        personal_email=personal_email,
        phone=phone,
    )
    data["message"] = (message or "").strip()
    try:
        with transaction.atomic():
            member_request = MemberRequest.objects.create(kind=Kind.ADDRESS, **data)
    except IntegrityError:
        member_request = MemberRequest.objects.get(
            kind=Kind.ADDRESS, status__in=MemberRequest.OPEN,
            personal_email__iexact=data["personal_email"],
        )  # fmt: skip
        if member_request.status == Status.UNCONFIRMED:  # the latest typing wins until then
            MemberRequest.objects.filter(pk=member_request.pk).update(**data)
        logger.info("address request %s posted again", member_request.pk)
    if member_request.status == Status.UNCONFIRMED:
        tasks.send_confirmation.delay_on_commit(member_request.pk)
    return member_request


def member_request_password_submit(*, address: str) -> MemberRequest | None:
    """A request for an existing address (its link goes to the member's own email); nothing
    for an unknown one. The caller answers both the same way."""
    try:
        mailbox = provisioning.mailbox_get(address=address)
    except ValidationError:
        logger.info("forgotten password asked for an unknown address")
        return None
    fields = {"mailbox": mailbox, "domain": mailbox.domain, "local_part": mailbox.local_part}
    try:
        with transaction.atomic():
            member_request = MemberRequest.objects.create(kind=Kind.PASSWORD, **fields)
    except IntegrityError:
        member_request = MemberRequest.objects.get(
            kind=Kind.PASSWORD, status__in=MemberRequest.OPEN, mailbox=mailbox
        )
    if member_request.status == Status.UNCONFIRMED:
        tasks.send_confirmation.delay_on_commit(member_request.pk)
    return member_request


def confirmation_token(member_request: MemberRequest) -> str:
    return signing.TimestampSigner(salt=_TOKEN_SALT).sign(str(member_request.pk))


def member_request_from_token(*, token: str) -> MemberRequest:
    try:
        pk = signing.TimestampSigner(salt=_TOKEN_SALT).unsign(token, max_age=CONFIRMATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError(
            "Ce lien a expiré : refaites la demande, un nouveau lien vous sera envoyé.",
            code="expired",
        ) from None
    except signing.BadSignature:
        raise ValidationError(
            "Ce lien n'est pas valide : copiez-le en entier depuis l'email.", code="invalid"
        ) from None
    found = MemberRequest.objects.select_related("domain", "mailbox__domain").filter(pk=pk)
    if not found:
        raise ValidationError("Cette demande n'existe plus.", code="invalid")
    return found[0]


def member_request_confirm(*, token: str) -> MemberRequest:
    """The member followed the link: the request joins the queue, the administrators learn it."""
    member_request = member_request_from_token(token=token)
    now = timezone.now()
    if MemberRequest.objects.filter(pk=member_request.pk, status=Status.UNCONFIRMED).update(
        status=Status.PENDING, confirmed_at=now
    ):
        member_request.status, member_request.confirmed_at = Status.PENDING, now
        tasks.notify_administrators.delay_on_commit(member_request.pk)
    return member_request


# --- The administrator decides --------------------------------------------------------------


def member_request_approve(*, member_request: MemberRequest, actor: Actor) -> str:
    """Create the mailbox, or start the reset; the report in French. Raises ValidationError or
    ProvisioningError (recorded on the request, which stays pending, and in the audit)."""
    target = f"demande n°{member_request.pk}"
    with audited(Action.REQUEST_APPROVE, actor=actor, target=target) as act:
        try:
            act.detail = _approve(member_request.pk, actor)
        except (ValidationError, ProvisioningError) as exc:
            text = exc.message if isinstance(exc, ProvisioningError) else " ".join(exc.messages)
            MemberRequest.objects.filter(pk=member_request.pk, status=Status.PENDING).update(
                last_error=text
            )
            raise
    return act.detail


def _approve(pk: int, actor: Actor) -> str:
    with transaction.atomic():
        member_request = (
            MemberRequest.objects.select_for_update(of=("self",))
            .select_related("domain", "mailbox__domain", "mailbox__member")
            .get(pk=pk)
        )
        if member_request.status != Status.PENDING:
            raise ValidationError(
                f"La demande n°{pk} est « {member_request.get_status_display()} » : "
                "seule une demande à traiter peut être approuvée."
            )
        if member_request.kind == Kind.ADDRESS:
            report = _approve_address(member_request, actor)
        else:
            report = _approve_password(member_request, actor)
        member_request.status = Status.APPROVED
        member_request.decided_at, member_request.decided_by = timezone.now(), actor.user
        member_request.last_error = ""
        member_request.save()
    return report


def _approve_address(member_request: MemberRequest, actor: Actor) -> str:
    outcome = provisioning.mailbox_create(
        local_part=member_request.local_part,
        domain=member_request.domain,
        full_name=member_request.full_name,
        personal_email=member_request.personal_email,
        phone=member_request.phone,
        actor=actor,
        reason=f"demande n°{member_request.pk}",
    )
    member_request.mailbox = outcome.mailbox
    report = (
        f"Adresse {outcome.mailbox.address} créée ; le mot de passe part par SMS au "
        f"{outcome.mailbox.member.masked_phone}."
    )
    return f"{report} {outcome.warning}" if outcome.warning else report


def _approve_password(member_request: MemberRequest, actor: Actor) -> str:
    mailbox = member_request.mailbox
    outcome = provisioning.mailbox_password_reset(
        mailbox=mailbox, actor=actor, reason=f"demande n°{member_request.pk}"
    )
    if outcome.merged:
        return (
            f"Mot de passe de {mailbox.address} : un envoi est déjà en cours, "
            "cette demande le rejoint."
        )
    return f"Nouveau mot de passe de {mailbox.address} en cours d'envoi par SMS."


def member_request_refuse(*, member_request: MemberRequest, reason: str = "", actor: Actor):
    """Refuse a confirmed request; the member receives the reason, if one is given."""
    pk = member_request.pk
    with audited(Action.REQUEST_REFUSE, actor=actor, target=f"demande n°{pk}") as act:
        _refuse(member_request, (reason or "").strip(), actor)
        act.detail = "raison donnée au membre" if (reason or "").strip() else "sans raison"


def _refuse(member_request: MemberRequest, reason: str, actor: Actor) -> None:
    pk = member_request.pk
    if member_request.status == Status.UNCONFIRMED:
        raise ValidationError(
            f"La demande n°{pk} attend encore la confirmation de l'email : personne ne l'a "
            "confirmée, il n'y a pas à répondre (supprimez-la si elle est indésirable)."
        )
    refused = MemberRequest.objects.filter(pk=pk, status=Status.PENDING).update(
        status=Status.REFUSED, refusal_reason=reason, decided_at=timezone.now(),
        decided_by=actor.user,
    )  # fmt: skip
    if not refused:
        raise ValidationError(f"La demande n°{pk} a déjà été traitée.")
    tasks.send_refusal.delay_on_commit(pk)


# --- Emails (called by tasks with a request id) --------------------------------------------


def member_request_send_confirmation(*, request_id: int) -> None:
    member_request = _open_request(request_id, Status.UNCONFIRMED)
    if member_request is None:
        return
    path = reverse("memberrequests:confirm", args=[confirmation_token(member_request)])
    hours = int(CONFIRMATION_MAX_AGE.total_seconds() // 3600)
    _send(
        emails.build_confirmation_email(
            member_request=member_request, link=settings.PUBLIC_BASE_URL + path, hours=hours
        )
    )


def member_request_notify_administrators(*, request_id: int) -> None:
    member_request = _open_request(request_id, Status.PENDING)
    recipients = selectors.staff_addresses()
    if member_request is None or not recipients:
        return
    _send(emails.build_arrival_email(member_request=member_request, recipients=recipients))


def member_request_send_refusal(*, request_id: int) -> None:
    member_request = _open_request(request_id, Status.REFUSED)
    if member_request is not None:
        _send(emails.build_refusal_email(member_request=member_request))


def _open_request(request_id: int, status: str) -> MemberRequest | None:
    related = ("domain", "mailbox__domain", "mailbox__member")
    return (
        MemberRequest.objects.select_related(*related).filter(pk=request_id, status=status).first()
    )


def _send(message) -> None:
    try:
        provisioning_emails.send(message)
    except PermanentError as exc:
        logger.error("request email given up: %s", exc.message)  # a retry cannot help
