"""Use cases of the CSV import: check a file, keep it for the preview, confirm it.

Every row is checked by provisioning's mailbox_validate and created by its mailbox_create,
the very services behind the administrator's own form, each with its own job.
"""

import logging
import re
from collections import Counter, defaultdict

import tablib
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Alias, Domain, Mailbox
from accounts.services import suggest_local_part
from audit.models import Action
from audit.services import Actor, audited
from provisioning import services as provisioning

from . import csvfile
from .models import MemberImport, MemberImportRow
from .services import address_taken

logger = logging.getLogger(__name__)
RowStatus = MemberImportRow.Status


def member_import_check(
    *, data: bytes, domain: Domain, progress=None
) -> tuple[csvfile.MembersFile, list[MemberImportRow]]:
    """Every row of the file with its verdict (unsaved); a ValidationError for the whole file.

    `progress(done, total)`, when given, hears of the rows checked as they go.
    """
    members_file = csvfile.read_members_csv(data)
    checker = _RowChecker(domain)
    rows = [checker.resolve(cells) for cells in members_file.rows.dict]
    resolved = [row for row in rows if not row.status]
    lines = defaultdict(list)  # which lines ask for each address
    for row in resolved:
        lines[(row.domain_id, row.local_part.lower())].append(row.line)
    for done, row in enumerate(resolved, start=1):
        checker.check(row, lines[(row.domain_id, row.local_part.lower())])
        if progress and (done % 100 == 0 or done == len(resolved)):
            progress(done, len(resolved))
    return members_file, rows


class _RowChecker:
    """Resolves each row's address (a verdict already when it cannot), then checks the row
    with mailbox_validate, knowing which lines ask for the same address."""

    def __init__(self, domain: Domain):
        self.default = domain
        self.domains = {domain.name: domain}
        self.existing: dict[int, set[str]] = {}
        self.aliases: dict[int, set[str]] = {}

    def resolve(self, cells: dict) -> MemberImportRow:
        row = MemberImportRow(
            line=cells["line"], full_name=cells["full_name"], local_part=cells["local_part"],
            personal_email=cells["personal_email"], phone=cells["phone"],
        )  # fmt: skip
        if cells["problem"]:
            return _verdict(row, RowStatus.ERROR, cells["problem"])
        local_part, at, domain_name = row.local_part.rpartition("@")
        if not at:
            local_part, domain_name = row.local_part, self.default.name
        if not local_part and not at:
            local_part, row.suggested = suggest_local_part(row.full_name), True
        row.local_part = local_part.strip()
        try:
            row.domain = self._domain(domain_name)
        except ValidationError as exc:
            return _verdict(row, RowStatus.ERROR, " ".join(exc.messages))
        if len(row.full_name) > 200:
            return _verdict(
                row, RowStatus.ERROR, f"nom : {len(row.full_name)} caractères ; 200 au maximum."
            )
        return row

    def check(self, row: MemberImportRow, same_address: list[int]) -> None:
        if len(same_address) > 1:
            others = ", ".join(str(line) for line in same_address if line != row.line)
            reason = (
                f"{row.address} : adresse en double dans le fichier (aussi ligne {others}) ; "
                "donnez une adresse différente à chacun."
            )
            _verdict(row, RowStatus.ERROR, reason)
        elif row.local_part.lower() in self._existing(row.domain):
            _verdict(row, RowStatus.EXISTS, f"L'adresse {row.address.lower()} existe déjà.")
        elif row.local_part.lower() in self._aliases(row.domain):
            reason = f"L'adresse {row.address.lower()} existe déjà (c'est un alias)."
            _verdict(row, RowStatus.ERROR, reason)
        else:
            try:
                # Taken or not is known from the sets above: no query per row.
                provisioning.mailbox_validate(
                    local_part=row.local_part, domain=row.domain, full_name=row.full_name,
                    personal_email=row.personal_email, phone=row.phone, check_taken=False,
                )  # fmt: skip
            except ValidationError as exc:
                _verdict(row, RowStatus.ERROR, describe(exc))
            else:
                _verdict(row, RowStatus.CREATE, "")

    def _domain(self, name: str) -> Domain:
        key = name.strip().lower()
        if key not in self.domains:
            self.domains[key] = provisioning.domain_get(name=key)
        return self.domains[key]

    def _existing(self, domain: Domain) -> set[str]:
        if domain.pk not in self.existing:
            self.existing[domain.pk] = _local_parts(Mailbox, domain)
        return self.existing[domain.pk]

    def _aliases(self, domain: Domain) -> set[str]:
        if domain.pk not in self.aliases:
            self.aliases[domain.pk] = _local_parts(Alias, domain)
        return self.aliases[domain.pk]


def _local_parts(model, domain: Domain) -> set[str]:
    """Every local part of `domain` taken in `model`, in lowercase, in one query."""
    lowered = model.objects.filter(domain=domain).annotate(lower=Lower("local_part"))
    return set(lowered.values_list("lower", flat=True))


def _verdict(row: MemberImportRow, status: str, reason: str) -> MemberImportRow:
    row.status, row.reason = status, reason
    return row


def describe(error: ValidationError) -> str:
    """`gsm : Numéro de GSM illisible… ; adresse : …`, one clause per field."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ; ".join(
        f"{csvfile.COLUMNS.get(field, field)} : {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )


def member_import_preview(
    *, data: bytes, file_name: str, domain: Domain, uploaded_by=None, progress=None
) -> MemberImport:
    """Check the file and keep its rows for the preview; nothing is created until confirmed."""
    members_file, rows = member_import_check(data=data, domain=domain, progress=progress)
    with transaction.atomic():
        member_import = MemberImport.objects.create(
            file_name=file_name[:255],
            domain=domain,
            encoding=members_file.encoding,
            delimiter=members_file.delimiter,
            ignored_columns=", ".join(members_file.ignored_columns),
            uploaded_by=uploaded_by,
        )
        for row in rows:
            row.member_import = member_import
        MemberImportRow.objects.bulk_create(rows, batch_size=1000)
    return member_import


def member_import_confirm(*, member_import: MemberImport, actor: Actor) -> Counter:
    """Create every row the preview found valid, each checked again and with its own job;
    the confirmation and each creation are in the audit trail, with the actor."""
    target = f"import n°{member_import.pk} ({member_import.file_name})"
    with audited(Action.IMPORT_CONFIRM, actor=actor, target=target) as act:
        confirmed = MemberImport.objects.filter(
            pk=member_import.pk, status=MemberImport.Status.PREVIEWED
        ).update(
            status=MemberImport.Status.CONFIRMED, confirmed_by=actor.user,
            confirmed_at=timezone.now(),
        )  # fmt: skip
        if not confirmed:
            raise ValidationError(
                "Cet import a déjà été confirmé : rien n'est créé une seconde fois."
            )
        rows = member_import.rows.filter(status=RowStatus.CREATE).select_related("domain")
        for row in rows.order_by("line").iterator(chunk_size=500):
            _create_row(row, actor, f"import n°{member_import.pk}, ligne {row.line}")
        counts = member_import_counts(member_import=member_import)
        labels = dict(RowStatus.choices)
        act.detail = ", ".join(f"{labels[status]} : {n}" for status, n in sorted(counts.items()))
    logger.info("import %s confirmed", member_import.pk)
    return counts


def _create_row(row: MemberImportRow, actor: Actor, reason: str) -> None:
    try:
        outcome = provisioning.mailbox_create(
            local_part=row.local_part, domain=row.domain, full_name=row.full_name,
            personal_email=row.personal_email, phone=row.phone, actor=actor, reason=reason,
        )  # fmt: skip
    except ValidationError as exc:
        taken = address_taken(local_part=row.local_part, domain=row.domain)
        _verdict(row, RowStatus.EXISTS if taken else RowStatus.ERROR, describe(exc))
    else:
        row.mailbox = outcome.mailbox
        _verdict(row, RowStatus.CREATED, outcome.warning or "")
    row.save(update_fields=["status", "reason", "mailbox"])


def member_import_counts(*, member_import: MemberImport) -> Counter:
    counts = member_import.rows.values("status").annotate(n=Count("pk")).order_by()
    return Counter({entry["status"]: entry["n"] for entry in counts})


def member_import_report(*, member_import: MemberImport) -> str:
    """Every row with its status and reason, as CSV a spreadsheet opens as it is (BOM, `;`)."""
    labels = dict(RowStatus.choices)
    report = tablib.Dataset(headers=["ligne", *csvfile.COLUMNS.values(), "statut", "raison"])
    for row in member_import.rows.select_related("domain").order_by("line").iterator():
        cells = [row.full_name, row.address, row.personal_email, row.phone,
                 str(labels[row.status]), row.reason]  # fmt: skip
        report.append([row.line, *map(spreadsheet_text, cells)])
    return "\ufeff" + report.export("csv", delimiter=";")


# What a spreadsheet reads as the start of a formula (CSV injection); a plain number such
# as a phone's `+32470123456` computes nothing and is left as typed.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?[0-9][0-9 ]*$")


def spreadsheet_text(cell: str) -> str:
    """The cell as text a spreadsheet never runs: a leading quote before a formula's start."""
    if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell
