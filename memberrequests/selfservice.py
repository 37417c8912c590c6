"""A forgotten password sent without the administrator's approval, where the domain allows it.

The member confirmed the request from the personal email on file; the new password goes, as
always, only by SMS to the phone on file (`mailbox_password_reset`'s normal path). A mailbox
that is not active, or that had SELF_SERVICE_RESETS_PER_DAY such resets in the last 24
hours, waits in the approval queue instead, with a note saying why. The administrators get
a daily digest of these resets (`self_service_digest_send`, a beat task).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Domain, Mailbox
from audit.models import Action
from audit.services import Actor, audited
from provisioning import emails as provisioning_emails
from provisioning import selectors
from provisioning import services as provisioning
from provisioning.exceptions import PermanentError, ProvisioningError

from .models import MemberRequest

logger = logging.getLogger(__name__)
Kind, Status = MemberRequest.Kind, MemberRequest.Status
# Who acts: the member, proven only by following the link sent to their email on file.
CONFIRMED_BY_MEMBER = Actor(label="membre (lien confirmé)")
WINDOW = timedelta(hours=24)  # of the cap per mailbox, and of the digest
TO_THE_QUEUE = "La demande attend l'approbation d'un administrateur."


def offers_self_service(member_request: MemberRequest) -> bool:
    """A forgotten password, looked up, on a domain whose administrator switched it on."""
    return (
        member_request.kind == Kind.PASSWORD
        and member_request.mailbox_id is not None
        and member_request.mailbox.domain.self_service_reset
    )


def member_request_self_reset(
    *, member_request: MemberRequest, actor: Actor = CONFIRMED_BY_MEMBER
) -> bool:
    """Start the new password of a just-confirmed forgotten password at once, if its domain
    allows it. True: the request is approved (and `member_request` updated). False: it waits
    for an administrator, as on any other domain; `note` says why when self-service was
    refused this time (never an error for the member)."""
    if not offers_self_service(member_request):
        return False
    target = member_request.mailbox.address
    try:
        with audited(Action.SELF_SERVICE_RESET, actor=actor, target=target) as act:
            act.detail = _reset(member_request, actor)
    except (ValidationError, ProvisioningError) as exc:
        text = exc.message if isinstance(exc, ProvisioningError) else " ".join(exc.messages)
        member_request.note = f"{text} {TO_THE_QUEUE}"
        MemberRequest.objects.filter(pk=member_request.pk, status=Status.PENDING).update(
            note=member_request.note
        )
        logger.info("self-service reset of request %s refused: %s", member_request.pk, text)
        return False
    return True


def _reset(member_request: MemberRequest, actor: Actor) -> str:
    """The request is locked, as an approval locks it. The mailbox need not be, for the cap:
    its open password request is unique (a constraint), so no other request of the mailbox
    can be confirmed meanwhile."""
    pk, now = member_request.pk, timezone.now()
    with transaction.atomic():
        locked = MemberRequest.objects.select_for_update(of=("self",)).get(pk=pk)
        if locked.status != Status.PENDING:
            raise ValidationError(f"La demande n°{pk} vient d'être traitée.")
        mailbox = Mailbox.objects.select_related("domain", "member").get(pk=locked.mailbox_id)
        _refuse_unless_allowed(mailbox, now)
        outcome = provisioning.mailbox_password_reset(
            mailbox=mailbox, actor=actor, reason=f"demande n°{pk}, sans approbation"
        )
        fields = {
            "status": Status.APPROVED, "self_service": True, "decided_at": now,
            "decided_by": None, "last_error": "", "note": _approval_note(outcome.merged),
        }  # fmt: skip
        MemberRequest.objects.filter(pk=pk).update(**fields)
    for name, value in fields.items():
        setattr(member_request, name, value)
    return f"demande n°{pk} ; envoi déjà en cours, rejoint" if outcome.merged else f"demande n°{pk}"


def _approval_note(merged: bool) -> str:
    if merged:
        return (
            "Approuvée sans administrateur (mot de passe oublié sans approbation sur ce "
            "domaine) : un envoi était déjà en cours, la demande l'a rejoint."
        )
    return (
        "Approuvée sans administrateur (mot de passe oublié sans approbation sur ce domaine) : "
        "nouveau mot de passe envoyé par SMS au GSM connu."
    )


def _refuse_unless_allowed(mailbox: Mailbox, now: datetime) -> None:
    if mailbox.status != Mailbox.Status.ACTIVE:
        raise ValidationError(
            f"L'adresse {mailbox.address} est « {mailbox.get_status_display()} » : seule une "
            "adresse active reçoit un nouveau mot de passe sans approbation."
        )
    limit = settings.SELF_SERVICE_RESETS_PER_DAY
    done = self_service_resets(mailbox=mailbox, since=now - WINDOW).count()
    if done >= limit:
        raise ValidationError(
            f"Déjà {done} nouveau(x) mot(s) de passe sans approbation pour {mailbox.address} "
            f"en 24 heures (limite : {limit})."
        )


def self_service_resets(*, since: datetime, until: datetime | None = None, mailbox=None):
    """The requests approved without an administrator in (since, until], oldest first."""
    resets = MemberRequest.objects.filter(self_service=True, decided_at__gt=since)
    if until is not None:
        resets = resets.filter(decided_at__lte=until)
    if mailbox is not None:
        resets = resets.filter(mailbox=mailbox)
    return resets.order_by("decided_at", "pk")


# --- The administrators' daily digest (a beat task) -----------------------------------------


def self_service_digest_send(*, now: datetime | None = None) -> int:
    """Mail the administrators the addresses that got a new password without approval in
    the 24 hours before `now`, with the time: nothing else about the member; a gestionnaire
    gets those of their domains only. No email when there was none. The number of resets
    listed."""
    now = now or timezone.now()
    resets = self_service_resets(since=now - WINDOW, until=now).select_related("mailbox__domain")
    listed = [
        {
            "address": reset.mailbox.address,
            "at": reset.decided_at,
            "domain": reset.mailbox.domain_id,
        }
        for reset in resets
    ]
    queue = reverse("admin:memberrequests_memberrequest_changelist")
    url = f"{settings.PUBLIC_BASE_URL}{queue}?status__exact={Status.APPROVED}"
    sent = 0
    for recipients, domain_ids in selectors.alert_groups({r["domain"] for r in listed}):
        theirs = [reset for reset in listed if reset["domain"] in domain_ids]
        if not theirs:
            continue
        context = {"resets": theirs, "url": url, "limit": settings.SELF_SERVICE_RESETS_PER_DAY}
        try:
            provisioning_emails.send_rendered(
                template="self_service_digest", context=context, to=recipients, html=False
            )
        except PermanentError as exc:
            logger.error("self-service digest given up: %s", exc.message)  # a retry cannot help
            continue
        sent = len(listed)
    return sent


# --- The administrator's switch ---------------------------------------------------------------


def domain_set_self_service_reset(*, domain: Domain, enabled: bool, actor: Actor) -> bool:
    """Switch forgotten passwords without approval on or off for a domain (its admin page).
    True when it changed."""
    state = "activé" if enabled else "coupé"
    with audited(Action.SELF_SERVICE_SWITCH, actor=actor, target=domain.name) as act:
        switched = Domain.objects.filter(pk=domain.pk).exclude(self_service_reset=enabled)
        changed = bool(switched.update(self_service_reset=enabled))
        domain.self_service_reset = enabled
        act.detail = f"mot de passe oublié sans approbation {state}" + (
            "" if changed else " (déjà)"
        )
    return changed
