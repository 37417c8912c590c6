"""Everything the app holds about a member, as JSON: what, since when, why it is kept.

`member_export` is the use case (the command `exportmember` and the admin's action call
it, and it records its act); `member_data` builds the document. Never a password: none is
kept anywhere, and the mail table's hash is not exported.
"""

import json
from datetime import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils import timezone

from accounts.models import Mailbox, Member
from audit.models import Action, AuditRecord
from audit.services import Actor, audited
from memberrequests.models import MemberImportRow, MemberRequest

from . import erasure, mailserver, quotas, selectors, services
from .exceptions import ProvisioningError
from .models import ProvisioningJob, SmsStatusEvent

FORMAT = "octopus-mail : données d'un membre, version 1"

WHY = {
    "membre": (
        "Vous envoyer le mot de passe par SMS (GSM) et les réglages de votre adresse par email "
        "(email personnel), et vous reconnaître quand vous demandez un nouveau mot de passe."
    ),
    "adresses": (
        "Vos adresses mail, leur état et leur espace. Une adresse supprimée n'est jamais "
        "redonnée à quelqu'un d'autre : l'adresse seule reste, sans vos données."
    ),
    "envois": (
        "Suivre l'envoi de chaque mot de passe par SMS et de l'email qui le suit. Le texte du "
        "SMS n'est gardé nulle part ici, et il est effacé chez l'opérateur après sa remise."
    ),
    "demandes": (
        "Vos demandes faites sur le site (adresse, mot de passe oublié) et les lignes d'import "
        "qui ont créé vos adresses, pour que l'administrateur y réponde."
    ),
    "journal": (
        "Chaque geste sur vos adresses est enregistré (qui, quand, quoi, avec quel résultat) "
        "pour la sécurité de tous ; ces entrées ne gardent pas vos données personnelles."
    ),
}


def member_export(
    *, member: Member | str, actor: Actor, domains: frozenset[str] | None = None
) -> dict:
    """The document for a member, or for the member of a full address; the act recorded.

    `domains`: the only domains whose aliases may be named (a gestionnaire's); None: all.
    """
    target = member.strip().lower() if isinstance(member, str) else _addresses_of(member)
    with audited(Action.MEMBER_EXPORT, actor=actor, target=target) as act:
        if isinstance(member, str):
            member = services.mailbox_get(address=member).member
        act.target = _addresses_of(member)
        document = member_data(member, domains=domains)
        act.detail = "données exportées en JSON"
    return document


def member_json(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, cls=DjangoJSONEncoder) + "\n"


def _addresses_of(member: Member) -> str:
    addresses = [m.address for m in member.mailboxes.select_related("domain")]
    return ", ".join(addresses) or f"membre n°{member.pk}"


def _when(moment: datetime | None) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def _section(name: str, since, kept: str, data) -> dict:
    return {"depuis": _when(since), "pourquoi": WHY[name], "conservation": kept, "données": data}


def member_data(member: Member, *, domains: frozenset[str] | None = None) -> dict:
    mailboxes = list(member.mailboxes.select_related("domain").order_by("created_at", "pk"))
    addresses = [m.address for m in mailboxes]
    jobs = list(ProvisioningJob.objects.filter(mailbox__in=mailboxes).select_related("mailbox"))
    requests = list(_requests(member, mailboxes))
    records = list(_records(member, addresses))
    first = min((m.created_at for m in mailboxes), default=member.created_at)
    return {
        "format": FORMAT,
        "exporté_le": _when(timezone.now()),
        "mot_de_passe": (
            "Aucun : le mot de passe n'est gardé nulle part. Seule son empreinte est dans la "
            "table du serveur mail, pour la connexion ; elle n'est pas exportée."
        ),
        "membre": _section("membre", member.created_at, _member_kept(member), _member(member)),
        "adresses": _section(
            "adresses",
            first,
            "Sans limite pour l'adresse seule ; le reste est effacé avec vos données.",
            [_mailbox(m, domains) for m in mailboxes],
        ),  # fmt: skip
        "envois": _section(
            "envois",
            min((j.created_at for j in jobs), default=None),
            "Avec l'adresse ; plus aucune donnée personnelle une fois vos données effacées.",
            [_job(job) for job in jobs],
        ),  # fmt: skip
        "demandes": _section(
            "demandes",
            min((r.created_at for r in requests), default=None),
            "Effacées avec vos données ; une demande non confirmée l'est plus tôt.",
            {"demandes": [_request(r) for r in requests], "imports": _imports(mailboxes)},
        ),  # fmt: skip
        "journal": _section(
            "journal",
            min((r.created_at for r in records), default=None),
            "Durée de conservation du journal ; l'adresse et l'acte seulement.",
            [_record(r) for r in records],
        ),  # fmt: skip
    }


def _member_kept(member: Member) -> str:
    if member.erased_at:
        return f"Effacées le {_when(member.erased_at)} : il ne reste que « membre effacé »."
    return (
        "Tant qu'une de vos adresses existe ; effacées "
        f"{settings.MEMBER_RETENTION_DAYS} jours après la suppression de la dernière."
    )


def _member(member: Member) -> dict:
    return {
        "nom_complet": member.full_name,
        "email_personnel": member.personal_email,
        "gsm": member.phone.as_e164 if member.phone else "",
        "créé_le": _when(member.created_at),
        "modifié_le": _when(member.updated_at),
        "effacé_le": _when(member.erased_at),
    }


def _mailbox(mailbox: Mailbox, domains) -> dict:
    usage = quotas.usage_of([mailbox.address]).get(mailbox.address)
    return {
        "adresse": mailbox.address,
        "statut": mailbox.get_status_display(),
        "créée_le": _when(mailbox.created_at),
        "supprimée_le": _when(mailbox.deleted_at),
        "effacement_prévu_le": _when(erasure.erasure_due_at(mailbox)),
        "effacée_le": _when(mailbox.erased_at),
        "quota": quotas.describe_quota(mailbox.effective_quota),
        "espace_utilisé": usage.text if usage else None,
        "table_du_serveur_mail": _mail_row(mailbox.address),
        "alias_qui_y_mènent": [
            {"alias": alias.address, "via": list(via), "actif": alias.active}
            for alias, via in selectors.aliases_reaching(mailbox.address, domains=domains)
        ],
    }


def _mail_row(address: str) -> dict | str:
    try:
        row = mailserver.user_row(address)
    except ProvisioningError as exc:
        return f"illisible pour l'instant : {exc.message}"
    if row is None:
        return {"présente": False}
    return {"présente": True, "connexion_possible": row["active"], "quota_octets": row["quota"]}


def _job(job: ProvisioningJob) -> dict:
    events = SmsStatusEvent.objects.filter(message_sid=job.sms_message_id).order_by("received_at")
    return {
        "numéro": job.pk,
        "adresse": job.mailbox.address,
        "type": job.get_kind_display(),
        "état": job.get_state_display(),
        "demandé_le": _when(job.created_at),
        "terminé_le": _when(job.finished_at),
        "sms": {
            "identifiant": job.sms_message_id,
            "statut": job.sms_status_label if job.sms_status else None,
            "envoyé_le": _when(job.sms_sent_at),
            "statut_reçu_le": _when(job.sms_status_at),
            "texte_chez_l_opérateur": job.get_sms_redaction_display(),
            "statuts_reçus": [
                {"statut": e.status, "reçu_le": _when(e.received_at)}
                for e in (events if job.sms_message_id else [])
            ],
        },
        "email": {"statut": job.get_email_status_display(), "envoyé_le": _when(job.email_sent_at)},
        "dernière_erreur": job.last_error,
    }


def _requests(member: Member, mailboxes: list[Mailbox]):
    mine = Q(mailbox__in=mailboxes)
    if member.personal_email:
        mine |= Q(kind=MemberRequest.Kind.ADDRESS, personal_email__iexact=member.personal_email)
    return MemberRequest.objects.filter(mine).select_related("domain", "mailbox__domain")


def _request(member_request: MemberRequest) -> dict:
    return {
        "numéro": member_request.pk,
        "demande": member_request.get_kind_display(),
        "statut": member_request.get_status_display(),
        "adresse": member_request.address,
        "nom_complet": member_request.full_name,
        "email_personnel": member_request.personal_email,
        "gsm": member_request.phone.as_e164 if member_request.phone else "",
        "message": member_request.message,
        "reçue_le": _when(member_request.created_at),
        "email_confirmé_le": _when(member_request.confirmed_at),
        "traitée_le": _when(member_request.decided_at),
        "raison_du_refus": member_request.refusal_reason,
    }


def _imports(mailboxes: list[Mailbox]) -> list[dict]:
    rows = MemberImportRow.objects.filter(mailbox__in=mailboxes).select_related("member_import")
    return [
        {
            "fichier": row.member_import.file_name,
            "ligne": row.line,
            "nom": row.full_name,
            "email_personnel": row.personal_email,
            "gsm": row.phone,
            "importé_le": _when(row.member_import.confirmed_at),
        }
        for row in rows.order_by("member_import", "line")
    ]


def _records(member: Member, addresses: list[str]):
    return AuditRecord.objects.filter(erasure.about(addresses)).order_by("created_at", "pk")


def _record(record: AuditRecord) -> dict:
    return {
        "le": _when(record.created_at),
        "acte": record.get_action_display(),
        "par": record.actor_label,
        "sur": record.target,
        "résultat": record.get_outcome_display(),
        "détail": record.detail,
    }
