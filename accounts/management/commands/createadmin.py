"""createadmin USERNAME: an administrator who can log in at once, with static OTP tokens."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import translation
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from audit.models import Action
from audit.services import Actor, audit_record


class Command(BaseCommand):
    help = (
        "Create a superuser (or reuse one) and print fresh static OTP tokens, so the first "
        "login needs no phone. The login password is printed once, at creation."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--tokens", type=int, default=10, help="how many tokens (1-20)")

    def handle(self, *, username, email, tokens, **options):
        if not 1 <= tokens <= 20:
            raise CommandError("--tokens doit être compris entre 1 et 20.")
        User = get_user_model()
        valid_username(User, username)
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            password = None
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_superuser(username, email, password)
            elif not (user.is_staff and user.is_active):
                raise CommandError(
                    f"L'utilisateur {username} existe mais n'est pas administrateur."
                )
            device, _ = StaticDevice.objects.get_or_create(
                user=user, name="secours", defaults={"confirmed": True}
            )
            codes = [StaticToken.random_token() for _ in range(tokens)]
            StaticToken.objects.bulk_create(StaticToken(device=device, token=t) for t in codes)
            created = " ; superutilisateur créé" if password else ""
            audit_record(
                actor=Actor.command("createadmin"),
                action=Action.OTP_BACKUP_CODES,
                target=username,
                detail=f"{tokens} codes de secours ajoutés (appareil « secours »){created}",
            )
        if password:
            self.stdout.write(f"Administrateur « {username} » créé. Mot de passe : {password}")
            self.stdout.write("(affiché une seule fois ; changez-le après la première connexion)")
        self.stdout.write(
            "Codes de secours à usage unique (champ « jeton OTP » de la page de connexion) :"
        )
        for code in codes:
            self.stdout.write(f"  {code}")


def valid_username(User, username: str) -> None:
    """The checks Django's createsuperuser runs: the field's length and validators."""
    field = User._meta.get_field(User.USERNAME_FIELD)
    with translation.override("fr"):  # Django's own messages, in French
        try:
            field.clean(username, None)
        except ValidationError as exc:
            reasons = " ".join(str(message) for message in exc.messages)
            raise CommandError(
                f"Nom d'utilisateur refusé : « {username[:160]} ». {reasons}"
            ) from None
