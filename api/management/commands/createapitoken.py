"""createapitoken NAME --scope SCOPE [--scope ...] [--domain DOMAIN ...] [--expires DAYS]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api import services
from api.models import Scope
from audit.services import Actor
from provisioning.services import domain_get


class Command(BaseCommand):
    help = (
        "Create an API token and print it once (only its SHA-256 digest is kept). "
        f"Scopes: {', '.join(Scope.values)}."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who uses it, for the audit trail")
        parser.add_argument(
            "--scope", action="append", required=True, dest="scopes", metavar="SCOPE",
            help="repeat for several: --scope mailboxes:read --scope mailboxes:write",
        )  # fmt: skip
        parser.add_argument(
            "--domain", action="append", default=[], dest="domains", metavar="DOMAIN",
            help="limit the token to this domain (repeatable); none: every domain",
        )  # fmt: skip
        parser.add_argument(
            "--expires", type=int, default=services.DEFAULT_LIFETIME_DAYS, metavar="DAYS",
            help=f"days of validity (default {services.DEFAULT_LIFETIME_DAYS})",
        )  # fmt: skip

    def handle(self, *, name, scopes, domains, expires, **options):
        try:
            issued = services.api_token_create(
                name=name,
                scopes=scopes,
                domains=[domain_get(name=domain) for domain in domains],
                expires_in_days=expires,
                actor=Actor.command("createapitoken"),
            )
        except ValidationError as exc:
            raise CommandError(describe(exc)) from None
        token = issued.token
        self.stdout.write(issued.secret)
        self.stderr.write(
            f"Jeton « {token.name} » créé ; droits : {', '.join(token.scopes)} ; expire le "
            f"{token.expires_at:%d/%m/%Y}. Affiché une seule fois : copiez-le maintenant."
        )


ARGUMENTS = {"name": "NAME", "scopes": "--scope", "expires_in_days": "--expires"}


def describe(error: ValidationError) -> str:
    """One line per problem, each naming the argument to correct."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    lines = [
        f"{ARGUMENTS.get(field, field)} : {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    ]
    return "\n".join(["Aucun jeton créé :", *lines])
