"""Small helpers for the request and import tests: the public forms, links, CSV files."""

import re

from django.core import mail
from django.core.cache import cache

from memberrequests import tasks
from memberrequests.models import MemberRequest

from ..base import MEMBER, OctopusTestCase

ADDRESS_URL = "/demande/adresse/"
PASSWORD_URL = "/demande/mot-de-passe/"
QUEUE_URL = "/admin/memberrequests/memberrequest/"
IMPORTS_URL = "/admin/memberrequests/memberimport/"
LINK = re.compile(r"https?://[^/\s]+(/demande/confirmer/[^\s\"<]+/)")
# What Pierre types on the public page.
ASKED = {
    "full_name": MEMBER["full_name"],
    "local_part": MEMBER["local_part"],
    "personal_email": MEMBER["personal_email"],
    "phone": "0470 12 34 56",
    "message": "Bonjour, je suis le nouveau trésorier.",
}
HEADER = "nom;adresse;email personnel;gsm"
FIRST_NAMES = ["Pierre", "Marie", "Jean", "Lucie", "Éric", "Anne", "Paul", "Zoé", "Luc", "Inès"]
LAST_NAMES = ["Dupont", "Lambert", "Peeters", "Janssens", "Maes", "Claes", "Goossens",
              "Wouters", "De Smet", "Dubois"]  # fmt: skip


class RequestTestCase(OctopusTestCase):
    def setUp(self):
        super().setUp()
        cache.clear()  # the throttle's counters live in the local-memory cache

    def ask_address(self, **overrides):
        return self.client.post(ADDRESS_URL, {**ASKED, **overrides})

    def ask_password(self, address: str):
        return self.client.post(PASSWORD_URL, {"address": address})

    def confirmation_link(self, member_request: MemberRequest) -> str:
        """Run the confirmation task as the worker would; the link's path from the email."""
        sent = len(mail.outbox)
        tasks.send_confirmation(member_request.pk)
        self.assertEqual(len(mail.outbox), sent + 1)
        return LINK.search(mail.outbox[-1].body).group(1)


def member_line(n: int) -> str:
    """A valid row for the n-th member: distinct name, address, email and mobile number."""
    first, last = FIRST_NAMES[n % 10], LAST_NAMES[(n // 10) % 10]
    return f"{first} {last} {n};membre{n};membre{n}@example.org;+32470{n:06d}"


def members_csv(count: int, *, bad: dict[int, str] | None = None) -> str:
    """HEADER then `count` valid rows; `bad` replaces the row of the given numbers."""
    bad = bad or {}
    lines = [bad.get(n, member_line(n)) for n in range(1, count + 1)]
    return "\n".join([HEADER, *lines]) + "\n"
