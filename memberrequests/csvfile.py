"""Reading a members' CSV as spreadsheets write it: UTF-8 (with or without BOM),
Windows-1252, or UTF-16 with a BOM (Excel's « Texte Unicode »); comma, semicolon or tab; a
header line naming the columns in any order.

tablib's own CSV loader pads a short row and rejects the whole file on a long one; here a
broken row must be reported on its own line while the others go on. So the records are read
with the csv module tablib wraps, and kept in a tablib Dataset, a broken row with its reason.
"""

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass

import tablib
from django.core.exceptions import ValidationError

# The service's fields, and how the administrator calls them (in messages and in the report).
COLUMNS = {
    "full_name": "nom",
    "local_part": "adresse",
    "personal_email": "email personnel",
    "phone": "gsm",
}
# Header texts accepted for each column, compared without case, accents or punctuation.
ALIASES = {
    "full_name": ["nom", "nom complet", "nom et prenom", "prenom et nom", "membre", "name",
                  "full name"],
    "local_part": ["adresse", "adresse souhaitee", "adresse mail", "adresse demandee",
                   "identifiant", "nom d utilisateur", "address", "desired address",
                   "local part"],
    "personal_email": ["email personnel", "e mail personnel", "adresse email personnelle",
                       "mail personnel", "email", "e mail", "courriel", "personal email"],
    "phone": ["gsm", "telephone", "tel", "portable", "mobile", "numero de gsm", "phone",
              "mobile phone"],
}  # fmt: skip
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_CELL = 500
HEADERS = ["line", *COLUMNS, "problem"]
# A well-formed UTF-8 sequence of two to four bytes.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
UNREADABLE = "\ufffd"
# Byte order marks of the other Unicode encodings; UTF-32's begin like UTF-16's, so first.
_UNICODE_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
]


@dataclass(frozen=True)
class MembersFile:
    rows: tablib.Dataset  # HEADERS; `problem` is empty, or why the row cannot be read
    encoding: str
    delimiter: str
    ignored_columns: list[str]


def read_members_csv(data: bytes) -> MembersFile:
    """The file's rows, or a ValidationError in French when the file as a whole is unusable."""
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"Le fichier pèse {len(data) // 1024} Ko ; {MAX_BYTES // 1024 // 1024} Mo au "
            "maximum : découpez-le."
        )
    text, encoding = decode(data)
    delimiter = _delimiter(text)
    reader = csv.reader(
        io.StringIO(text.replace("\x00", UNREADABLE), newline=""), delimiter=delimiter
    )
    dataset = tablib.Dataset(headers=HEADERS)
    previous = 0
    header = None
    try:
        for record in reader:
            line, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines, and the ";;;" lines spreadsheets leave at the end
            if header is None:
                header, columns, ignored = record, *_columns(record)
                continue
            if len(dataset) >= MAX_ROWS:
                raise ValidationError(
                    f"Le fichier compte plus de {MAX_ROWS} membres : découpez-le."
                )
            dataset.append(_row(line, record, len(header), columns))
    except csv.Error as exc:
        raise ValidationError(
            f"Ligne {previous + 1} illisible ({exc}) : un guillemet n'est-il pas refermé ?"
        ) from None
    if header is None or not len(dataset):
        raise ValidationError("Le fichier ne contient aucun membre (une ligne par membre, "
                              "sous une ligne qui nomme les colonnes).")  # fmt: skip
    return MembersFile(dataset, encoding, delimiter, ignored)


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 or UTF-32 with a BOM, else Windows-1252;
    unreadable bytes become U+FFFD.

    A file that is UTF-8 but for a damaged row stays UTF-8: only that row is refused.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "UTF-8"
    for bom, codec, name in _UNICODE_BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace"), name
    if data.count(b"\x00") * 4 > len(data):
        raise ValidationError(
            "Le fichier semble enregistré en UTF-16 ou UTF-32 (« Texte Unicode ») sans "
            "marque d'ordre des octets : enregistrez-le en « CSV UTF-8 »."
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    in_sequences = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
    if in_sequences * 2 > len(_HIGH_BYTE.findall(data)):
        return data.decode("utf-8", errors="replace"), "UTF-8"
    return data.decode("cp1252", errors="replace"), "Windows-1252"


def normalize_header(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


_FIELD_OF = {alias: field for field, aliases in ALIASES.items() for alias in aliases}


def _delimiter(text: str) -> str:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    return max([",", ";", "\t"], key=first_line.count) if first_line else ","


def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Which position holds each field; the header's unknown columns are ignored."""
    columns: dict[str, int] = {}
    ignored = []
    for position, text in enumerate(header):
        field = _FIELD_OF.get(normalize_header(text))
        if field is None:
            if text.strip():
                ignored.append(text.strip()[:50])
        elif field in columns:
            raise ValidationError(
                f"La colonne « {COLUMNS[field]} » apparaît deux fois "
                f"(« {header[columns[field]]} » et « {text} »)."
            )
        else:
            columns[field] = position
    missing = [label for field, label in COLUMNS.items() if field not in columns]
    if missing:
        raise ValidationError(
            "Colonnes manquantes : "
            + ", ".join(f"« {label} »" for label in missing)
            + ". La première ligne doit nommer les colonnes nom, adresse, email personnel et "
            "gsm, dans n'importe quel ordre (la colonne adresse peut rester vide : elle est "
            "alors proposée à partir du nom)."
        )
    return columns, ignored


def _row(line: int, record: list[str], width: int, columns: dict[str, int]) -> list:
    extra = record[width:]
    if len(record) < width or any(cell.strip() for cell in extra):
        problem = (
            f"La ligne compte {len(record)} champs au lieu de {width} : un séparateur "
            "manque ou est en trop (une virgule dans un nom doit être entre guillemets)."
        )
    elif any(UNREADABLE in cell for cell in record):
        problem = (
            "La ligne contient des caractères illisibles (encodage) : enregistrez le fichier "
            "en « CSV UTF-8 »."
        )
    elif any(len(cell) > MAX_CELL for cell in record):
        problem = f"Une cellule dépasse {MAX_CELL} caractères."
    else:
        problem = ""
    cells = [
        record[columns[field]].strip()[:MAX_CELL] if columns[field] < len(record) else ""
        for field in COLUMNS
    ]
    return [line, *cells, problem]
