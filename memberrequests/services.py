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
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import Domain, Mailbox
from accounts.services import suggest_local_part
from accounts.validators import validate_local_part
from audit.models import Action
from audit.services import Actor, audited
from provisioning import emails as provisioning_emails
from provisioning import selectors
from provisioning import services as provisioning
from provisioning.exceptions import PermanentError, ProvisioningError

from . import emails, selfservice, tasks
from .models import MemberRequest

logger = logging.getLogger(__name__)
Kind, Status = MemberRequest.Kind, MemberRequest.Status
CONFIRMATION_MAX_AGE = timedelta(hours=48)
_TOKEN_SALT = "memberrequests.confirm"
_CONTENT_SALT = "memberrequests.content"


# --- A member asks --------------------------------------------------------------------------


def member_request_validate(
    *, full_name: str, local_part: str, domain: Domain, personal_email: str, phone
) -> dict:
    """mailbox_validate's checks but one: whether the address is taken is neither told on a
    public page nor even looked up, so that a taken and a free address take the same path in
    the same time. The administrator sees it in the queue, and the approval refuses it."""
    return provisioning.mailbox_validate(
        local_part=(local_part or "").strip() or suggest_local_part(full_name or ""),
        domain=domain,
        full_name=full_name,
        personal_email=personal_email,
        phone=phone,
        check_taken=False,
    )


def address_taken(*, local_part: str, domain: Domain) -> bool:
    return Mailbox.objects.filter(domain=domain, local_part__iexact=local_part.strip()).exists()


def member_request_address_submit(
    *, full_name: str, local_part: str, domain: Domain, personal_email: str, phone, message=""
) -> MemberRequest:
    """Record the request and mail its confirmation link.

    A later post never changes what an earlier link confirms: it is a new request with its
    own link, and the unconfirmed ones before it for that email stop working. The very same
    request posted again is one (its link is sent again); a confirmed one is left alone.
    """
    data = member_request_validate(
        full_name=full_name,
        local_part=local_part,
        domain=domain,
        personal_email=personal_email,
        phone=phone,
    )
    data["message"] = (message or "").strip()
    try:
        member_request = _record_address_request(data)
    except IntegrityError:  # a first request for that email was written meanwhile
        member_request = _record_address_request(data)
    if member_request.status == Status.UNCONFIRMED:
        tasks.send_confirmation.delay_on_commit(member_request.pk)
    return member_request


@transaction.atomic
def _record_address_request(data: dict) -> MemberRequest:
    asked = MemberRequest(kind=Kind.ADDRESS, **data)
    email = asked.personal_email.lower()
    open_requests = list(
        MemberRequest.objects.select_for_update()
        .annotate(email=Lower("personal_email"))  # the unique index's expression
        .filter(kind=Kind.ADDRESS, status__in=MemberRequest.OPEN, email=email)
    )
    for found in open_requests:
        if found.status == Status.PENDING or content_digest(found) == content_digest(asked):
            logger.info("address request %s posted again", found.pk)
            return found
    if open_requests:
        MemberRequest.objects.filter(pk__in=[found.pk for found in open_requests]).update(
            status=Status.SUPERSEDED
        )
        logger.info("address request %s superseded", ", ".join(str(r.pk) for r in open_requests))
    asked.save()
    return asked


def member_request_password_submit(*, address: str) -> MemberRequest | None:
    """Record the address as typed and ring the worker, which looks it up and mails the link
    to the member's own email, or deletes the request: known or not, the page does the same
    work, in the same time, and answers the same. Only what no mailbox could be called (told
    by the text alone) is dropped at once."""
    address = address.strip().lower()
    if not _could_be_a_mailbox(address):
        logger.info("forgotten password asked for a malformed address")
        return None
    member_request = MemberRequest.objects.create(
        kind=Kind.PASSWORD, status=Status.RECEIVED, asked_address=address
    )
    tasks.send_confirmation.delay_on_commit(member_request.pk)
    return member_request


def _could_be_a_mailbox(address: str) -> bool:
    local_part, _at, domain_name = address.rpartition("@")
    try:
        validate_local_part(local_part)
    except ValidationError:
        return False
    return bool(domain_name) and len(address) <= 254


def _password_request_look_up(member_request: MemberRequest) -> MemberRequest | None:
    """The mailbox of a forgotten password as typed; None for an unknown address, whose
    request is deleted. A request for a mailbox with one open joins it."""
    try:
        mailbox = provisioning.mailbox_get(address=member_request.asked_address)
    except ValidationError:
        logger.info("forgotten password asked for an unknown address")
        member_request.delete()
        return None
    fields = {"mailbox": mailbox, "domain": mailbox.domain, "local_part": mailbox.local_part}
    try:
        with transaction.atomic():
            MemberRequest.objects.filter(pk=member_request.pk, status=Status.RECEIVED).update(
                status=Status.UNCONFIRMED, **fields
            )
    except IntegrityError:
        joined = MemberRequest.objects.filter(
            kind=Kind.PASSWORD, status__in=MemberRequest.OPEN, mailbox=mailbox
        ).first()
        logger.info("password request %s joins %s", member_request.pk, joined and joined.pk)
        member_request.delete()
        return joined and _request(joined.pk)
    return _request(member_request.pk)


# --- The link in the email ------------------------------------------------------------------


def content_digest(member_request: MemberRequest) -> str:
    """What a link confirms: any change to the request, and its link stops working."""
    asked_mailbox = member_request.mailbox_id if member_request.kind == Kind.PASSWORD else None
    content = [
        member_request.kind,
        member_request.full_name,
        member_request.local_part,
        member_request.domain_id,
        member_request.personal_email.lower(),
        member_request.phone or "",
        member_request.message,
        asked_mailbox or "",  # an address request's mailbox is what its approval made
    ]
    text = "\0".join(str(value) if value is not None else "" for value in content)
    return salted_hmac(_CONTENT_SALT, text, algorithm="sha256").hexdigest()[:32]


def confirmation_token(member_request: MemberRequest) -> str:
    value = f"{member_request.pk}:{content_digest(member_request)}"
    return signing.TimestampSigner(salt=_TOKEN_SALT).sign(value)


def member_request_from_token(*, token: str) -> MemberRequest:
    try:
        value = signing.TimestampSigner(salt=_TOKEN_SALT).unsign(
            token, max_age=CONFIRMATION_MAX_AGE
        )
    except signing.SignatureExpired:
        raise ValidationError(
            "Ce lien a expiré : refaites la demande, un nouveau lien vous sera envoyé.",
            code="expired",
        ) from None
    except signing.BadSignature:
        raise ValidationError(
            "Ce lien n'est pas valide : copiez-le en entier depuis l'email.", code="invalid"
        ) from None
    pk, _colon, digest = value.partition(":")
    member_request = _request(int(pk))
    if member_request is None or member_request.status == Status.RECEIVED:
        raise ValidationError("Cette demande n'existe plus.", code="invalid")
    if member_request.status == Status.SUPERSEDED:
        raise ValidationError(
            "Une demande plus récente a été faite avec la même adresse email : ce lien-ci ne "
            "fonctionne plus. Seul le lien du dernier email reçu compte ; vérifiez ce qu'il "
            "demande avant de le confirmer.",
            code="superseded",
        )
    if not constant_time_compare(digest, content_digest(member_request)):
        raise ValidationError(
            "La demande a changé depuis l'envoi de ce lien : il ne fonctionne plus. "
            "Refaites la demande, un nouveau lien vous sera envoyé.",
            code="changed",
        )
    return member_request


def member_request_confirm(*, token: str) -> MemberRequest:
    """The member followed the link: queued, administrators told; or selfservice's reset."""
    member_request = member_request_from_token(token=token)
    now = timezone.now()
    if not MemberRequest.objects.filter(pk=member_request.pk, status=Status.UNCONFIRMED).update(
        status=Status.PENDING, confirmed_at=now
    ):
        return member_request_from_token(token=token)  # confirmed, decided or superseded since
    member_request.status, member_request.confirmed_at = Status.PENDING, now
    if not selfservice.member_request_self_reset(member_request=member_request):
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
    """Mail the link of a request to confirm; a forgotten password's address is looked up
    first (here, in the worker, and not in the page's request)."""
    member_request = _request(request_id)
    if member_request is not None and member_request.status == Status.RECEIVED:
        member_request = _password_request_look_up(member_request)
    if member_request is None or member_request.status != Status.UNCONFIRMED:
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
    recipients = selectors.staff_addresses(getattr(member_request, "concerned_domain_id", None))
    if member_request is None or not recipients:
        return
    _send(emails.build_arrival_email(member_request=member_request, recipients=recipients))


def member_request_send_refusal(*, request_id: int) -> None:
    member_request = _open_request(request_id, Status.REFUSED)
    if member_request is not None:
        _send(emails.build_refusal_email(member_request=member_request))


def _open_request(request_id: int, status: str) -> MemberRequest | None:
    member_request = _request(request_id)
    return member_request if member_request and member_request.status == status else None


def _request(request_id: int) -> MemberRequest | None:
    related = ("domain", "mailbox__domain", "mailbox__member")
    return MemberRequest.objects.select_related(*related).filter(pk=request_id).first()


def _send(message) -> None:
    try:
        provisioning_emails.send(message)
    except PermanentError as exc:
        logger.error("request email given up: %s", exc.message)  # a retry cannot help


# --- A member's erasure (provisioning.erasure, invariant 7) ----------------------------------


def member_requests_erase(*, mailbox: Mailbox, personal_email: str = "") -> int:
    """Delete what a member asked about this mailbox (its address and password requests, and
    their decided address requests under `personal_email`); the import lines that created it
    keep no name, email or phone. The number of requests deleted."""
    from django.db.models import Q  # here: this section is appended to the module

    from .models import MemberImportRow

    mine = Q(mailbox=mailbox) | Q(kind=Kind.PASSWORD, asked_address__iexact=mailbox.address)
    if personal_email:
        decided = ~Q(status__in=MemberRequest.OPEN) & Q(mailbox__isnull=True)
        mine |= Q(kind=Kind.ADDRESS, personal_email__iexact=personal_email) & decided
    deleted, _per_model = MemberRequest.objects.filter(mine).delete()
    MemberImportRow.objects.filter(mailbox=mailbox).update(
        full_name="", personal_email="", phone=""
    )
    return deleted
