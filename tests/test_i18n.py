"""French by default with no catalogue, English when the browser asks for it.

The msgids are the French texts; locale/en/LC_MESSAGES/django.po holds the English, compiled
to django.mo by `make install` (never committed). The catalogue tests fail on an English
entry left empty or fuzzy, and on a string marked in the code that is not in the catalogue.
"""

import ast
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import TestCase
from django.utils.translation import override
from django.utils.translation.template import templatize

from accounts.validators import validate_local_part

from .services import IN_CI

LOGIN_URL = "/admin/login/"
PO_FILE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
# Where `make install`'s makemessages looks (it ignores .venv, tests and bench).
SOURCE_DIRS = [
    "accounts",
    "provisioning",
    "octopus_mail",
    "audit",
    "memberrequests",
    "api",
    "roles",
    "templates",
]
# The keywords Django's makemessages gives xgettext, besides xgettext's own for Python.
XGETTEXT_KEYWORDS = [
    "gettext_noop", "gettext_lazy", "ngettext_lazy:1,2", "pgettext:1c,2", "npgettext:1c,2,3",
    "pgettext_lazy:1c,2", "npgettext_lazy:1c,2,3",
]  # fmt: skip
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")
_FIELD = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) (".*")$')


def parse_po(text: str) -> list[dict]:
    """The entries of a .po file: their fields (strings unquoted) and their `#,` flags."""
    entries = []
    for block in re.split(r"\n\s*\n", text.strip()):
        entry, flags, field = {}, set(), None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue  # references, comments, obsolete entries (#~)
            elif match := _FIELD.match(line):
                field = match.group(1)
                entry[field] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and field:
                entry[field] += ast.literal_eval(line)
        if "msgid" in entry:
            entry["flags"] = flags
            entries.append(entry)
    return entries


def catalogue() -> list[dict]:
    """Every entry of the English .po but its header."""
    return [e for e in parse_po(PO_FILE.read_text(encoding="utf-8")) if e["msgid"]]


def marked_in_source() -> set[tuple[str | None, str]]:
    """(context, msgid) of every string marked for translation, extracted as makemessages does."""
    base = Path(settings.BASE_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for directory in SOURCE_DIRS:
            for path in sorted((base / directory).rglob("*")):
                if path.suffix == ".py":
                    files.append(str(path))
                elif path.suffix in {".html", ".txt"}:  # templates, as Python for xgettext
                    copy = Path(tmp) / f"{len(files)}.py"
                    copy.write_text(templatize(path.read_text(encoding="utf-8"), origin=str(path)))
                    files.append(str(copy))
        result = subprocess.run(
            ["xgettext", "--language=Python", "--from-code=UTF-8", "--output=-"]
            + [f"--keyword={keyword}" for keyword in XGETTEXT_KEYWORDS]
            + files,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return {(e.get("msgctxt"), e["msgid"]) for e in parse_po(result.stdout) if e["msgid"]}


class LanguageTests(TestCase):
    def test_it_shows_the_login_page_in_french_by_default(self):
        response = self.client.get(LOGIN_URL)
        self.assertEqual(response["Content-Language"], "fr")
        self.assertContains(response, '<html lang="fr"')
        self.assertContains(response, "Octopus-Soignies — adresses mail")
        self.assertContains(response, '<input type="submit" value="Connexion"')

    def test_it_shows_the_login_page_in_english_when_the_browser_asks(self):
        self.assertTrue(MO_FILE.exists(), f"{MO_FILE} is missing: run `make install`")
        response = self.client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en")
        self.assertEqual(response["Content-Language"], "en")
        self.assertContains(response, '<html lang="en"')
        self.assertContains(response, "Octopus-Soignies — mail addresses")
        self.assertContains(response, '<input type="submit" value="Log in"')
        self.assertNotContains(response, "adresses mail")

    def test_it_keeps_a_validator_message_french_by_default(self):
        with self.assertRaises(ValidationError) as caught:
            validate_local_part("Pierre")
        self.assertEqual(
            caught.exception.messages,
            ["Utilisez des minuscules : « Pierre » s'écrirait « pierre »."],
        )

    def test_it_turns_a_validator_message_english(self):
        with override("en"), self.assertRaises(ValidationError) as caught:
            validate_local_part("Pierre")
        self.assertEqual(
            caught.exception.messages, ["Use lowercase: “Pierre” would be written “pierre”."]
        )

    def test_it_has_an_english_text_for_every_msgid(self):
        entries = catalogue()
        self.assertGreater(len(entries), 50)
        for entry in entries:
            with self.subTest(msgid=entry["msgid"]):
                self.assertNotIn("fuzzy", entry["flags"])
                texts = [v for k, v in entry.items() if k.startswith("msgstr")]
                self.assertTrue(texts and all(t.strip() for t in texts), "empty msgstr")
                for text in texts:
                    self.assertEqual(
                        sorted(PLACEHOLDER.findall(text)),
                        sorted(PLACEHOLDER.findall(entry["msgid"])),
                        "placeholders differ",
                    )

    def test_it_has_every_marked_string_in_the_catalogue(self):
        if shutil.which("xgettext") is None:
            reason = "xgettext (Debian package gettext) is not installed"
            if IN_CI:
                self.fail(f"{reason} (CI=true: a missing tool fails the run)")
            self.skipTest(f"*** SKIPPED: {reason} ***")
        in_catalogue = {(e.get("msgctxt"), e["msgid"]) for e in catalogue()}
        missing = sorted(marked_in_source() - in_catalogue, key=str)
        self.assertEqual(
            missing, [], "not in the .po: run `manage.py makemessages -l en --ignore=.venv "
            "--ignore=tests --ignore=bench` and translate them",
        )  # fmt: skip
