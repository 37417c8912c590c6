"""What the admin's index shows first: requests, SMS not delivered, deliveries on their way;
counted in the domains the user manages, for the lists they may see."""

from django.apps import apps
from django.db.models import Count
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Mailbox
from provisioning import selectors
from roles import access

# selectors.LAST_SMS key → how the index names it, and its tone when not zero
QUESTIONS = {
    "not_delivered": (_("SMS non remis"), "error"),
    "failed": (_("Envois en échec"), "error"),
    "in_flight": (_("Envois en attente ou en cours"), "waiting"),
}


def rows(user) -> list[dict]:
    """One row a question: its count, its tone, and the list that answers it."""
    found = []
    if user.has_perm("accounts.view_mailbox"):
        mailboxes = access.scope(Mailbox.objects.all(), user, "domain")
        # One aggregate over the mailboxes joined to their `last_job`: no subquery per row.
        counts = mailboxes.aggregate(
            **{key: Count("pk", filter=selectors.LAST_SMS[key][1]) for key in QUESTIONS}
        )
        url = reverse("admin:accounts_mailbox_changelist")
        found = [
            (label, counts[key], tone, f"{url}?sms={key}")
            for key, (label, tone) in QUESTIONS.items()
        ]
    if apps.is_installed("memberrequests") and user.has_perm("memberrequests.view_memberrequest"):
        request_model = apps.get_model("memberrequests", "MemberRequest")
        requests = request_model.objects.filter(status=request_model.Status.PENDING)
        pending = access.scope(requests, user, "domain", "mailbox__domain").count()
        url = reverse("admin:memberrequests_memberrequest_changelist") + "?status__exact=pending"
        found.insert(0, (_("Demandes des membres à traiter"), pending, "waiting", url))
    return [
        {"label": label, "count": count, "tone": tone if count else "ok", "url": url}
        for label, count, tone, url in found
    ]
