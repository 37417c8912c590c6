"""Tokens: made by `createapitoken` or in the admin by a verified administrator, shown once,
stored as a SHA-256 digest, limited by scope, domain and expiry, revocable, audited."""

import hashlib
import io
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from api import services as api_services
from api.models import ApiToken
from audit.models import Action, AuditRecord
from audit.services import Actor
from roles.groups import ADMINISTRATORS, MANAGERS
from roles.models import DomainDelegation

from ..base import ADMIN_PASSWORD, login_with_otp, make_verified_admin
from .helpers import OTHER_DOMAIN, ApiTestCase, other_domain

CHANGELIST = "/admin/api/apitoken/"


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("createapitoken", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def dump_app_tables() -> str:
    """Every row of the app's tables, as text: the secret must be in none of them."""
    with connection.cursor() as cursor:
        text = []
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from Django
            text.append(repr(cursor.fetchall()))
    return "\n".join(text)


class CreateApiTokenCommandTests(ApiTestCase):
    def test_it_prints_the_token_once_and_keeps_only_its_digest(self):
        out, err = run("import", "--scope", "mailboxes:read", "--scope", "mailboxes:write",
                       "--domain", "octopus-soignies.be", "--expires", "30")  # fmt: skip
        secret = out.strip()
        self.assertTrue(secret.startswith("om_") and len(secret) > 40)
        self.assertIn("Affiché une seule fois", err)
        token = ApiToken.objects.get(name="import")
        self.assertEqual(token.key_hash, hashlib.sha256(secret.encode()).hexdigest())
        self.assertEqual(token.prefix, secret[:11])
        self.assertEqual(token.scopes, ["mailboxes:read", "mailboxes:write"])
        self.assertEqual([d.name for d in token.domains.all()], ["octopus-soignies.be"])
        self.assertAlmostEqual(token.expires_at, timezone.now() + timedelta(days=30),
                               delta=timedelta(minutes=1))  # fmt: skip
        self.assertNotIn(secret, dump_app_tables())
        record = AuditRecord.objects.get(action=Action.API_TOKEN_CREATE, target="import")
        self.assertIn("createapitoken", record.actor_label)
        response = self.call("GET", "/api/v1/mailboxes/", secret=secret)
        self.assertEqual(response.status_code, 200)

    def test_it_names_each_bad_argument_and_creates_nothing(self):
        for args, message in [
            (["x", "--scope", "tout"], "--scope : Droits inconnus : tout."),
            (["x", "--scope", "mailboxes:read", "--expires", "0"], "--expires : Une durée"),
            (["x", "--scope", "mailboxes:read", "--domain", "inconnu.be"], "n'est pas géré ici"),
            (["import des inscriptions", "--scope", "mailboxes:read"], "s'appelle déjà"),
            (["", "--scope", "mailboxes:read"], "NAME : Donnez un nom"),
        ]:
            with self.subTest(args=args), self.assertRaisesMessage(CommandError, message):
                run(*args)
        self.assertEqual(ApiToken.objects.count(), 1)  # the test case's own

    def test_it_limits_a_token_to_its_domains(self):
        other_domain()
        out, _err = run("autre", "--scope", "mailboxes:read", "--domain", OTHER_DOMAIN)
        self.assertEqual(self.call("GET", "/api/v1/mailboxes/", secret=out.strip()).json()
                         ["count"], 0)  # fmt: skip


class TokenLifeTests(ApiTestCase):
    def test_it_refuses_an_expired_token(self):
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        problem = self.assertProblem(self.call("GET", "/api/v1/mailboxes/"), 401)
        self.assertIn("Ce jeton a expiré le", problem["detail"])

    def test_it_refuses_a_revoked_token_from_its_next_call(self):
        self.assertEqual(self.call("GET", "/api/v1/mailboxes/").status_code, 200)
        api_services.api_token_revoke(token=ApiToken.objects.get(), actor=Actor(label="tests"))
        problem = self.assertProblem(self.call("GET", "/api/v1/mailboxes/"), 401)
        self.assertIn("Ce jeton a été révoqué le", problem["detail"])

    def test_it_records_the_last_use_at_most_once_a_minute(self):
        self.assertIsNone(ApiToken.objects.get().last_used_at)
        self.call("GET", "/api/v1/mailboxes/")
        first = ApiToken.objects.get().last_used_at
        self.assertIsNotNone(first)
        self.call("GET", "/api/v1/mailboxes/")
        self.assertEqual(ApiToken.objects.get().last_used_at, first)


class TokenAdminTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin, device, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, device, tokens[0])

    def add(self, **fields):
        data = {"name": "nextcloud", "scopes": ["mailboxes:read"], "expires_in_days": "90",
                **fields}  # fmt: skip
        return self.client.post(f"{CHANGELIST}add/", data)

    def test_it_shows_the_new_token_once_and_keeps_only_its_digest(self):
        response = self.add(domains=[self.domain.pk])
        self.assertEqual(response.status_code, 200, response.content[:3000])
        self.assertIn("no-store", response["Cache-Control"])
        token = ApiToken.objects.get(name="nextcloud")
        secret = response.context["secret"]
        self.assertContains(response, f'<code class="api-token-secret">{secret}</code>')
        self.assertEqual(token.key_hash, hashlib.sha256(secret.encode()).hexdigest())
        self.assertEqual(token.created_by, self.admin)
        self.assertEqual([str(m) for m in get_messages(response.wsgi_request)], [])
        self.assertNotIn(secret, dump_app_tables())  # nor in the session, nor a message
        self.assertNotContains(self.client.get(f"{CHANGELIST}{token.pk}/change/"), secret)
        record = AuditRecord.objects.get(action=Action.API_TOKEN_CREATE, target="nextcloud")
        self.assertEqual(record.actor_label, "claire")
        self.assertEqual(self.call("GET", "/api/v1/mailboxes/", secret=secret).status_code, 200)

    def test_it_refuses_a_bad_form_with_the_services_messages(self):
        response = self.add(name="import des inscriptions", scopes=[], expires_in_days="0")
        self.assertEqual(response.status_code, 200)
        errors = response.context["adminform"].form.errors
        self.assertIn("s'appelle déjà", errors["name"][0])
        self.assertEqual(set(errors), {"name", "scopes", "expires_in_days"})
        self.assertEqual(ApiToken.objects.count(), 1)

    def test_it_revokes_the_selected_tokens(self):
        token = ApiToken.objects.get()
        response = self.client.post(
            CHANGELIST, {"action": "revoke", "_selected_action": [token.pk]}, follow=True
        )
        self.assertContains(response, "révoqué")
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)
        self.assertEqual(AuditRecord.objects.filter(action=Action.API_TOKEN_REVOKE).count(), 1)
        self.assertEqual(self.call("GET", "/api/v1/mailboxes/").status_code, 401)

    def verified_staff(self, username: str, *, group: str | None = None):
        """A staff user who is no superuser, logged in with a second factor."""
        staff = get_user_model().objects.create_user(
            username, f"{username}@example.org", ADMIN_PASSWORD, is_staff=True
        )
        if group:
            staff.groups.add(Group.objects.get(name=group))
            DomainDelegation.objects.create(user=staff, domain=self.domain)
        device = StaticDevice.objects.create(user=staff, name="secours", confirmed=True)
        StaticToken.objects.create(device=device, token=f"{username}01")
        self.client.logout()
        login_with_otp(self.client, staff, device, f"{username}01")
        return staff

    def test_it_is_refused_to_gestionnaires_and_other_staff(self):
        pages = (CHANGELIST, f"{CHANGELIST}add/", f"{CHANGELIST}{ApiToken.objects.get().pk}/"
                 "change/")  # fmt: skip
        for username, group in (("paul", None), ("gaston", MANAGERS)):
            self.verified_staff(username, group=group)
            for path in pages:
                with self.subTest(user=username, path=path):
                    self.assertEqual(self.client.get(path).status_code, 403)
            self.assertNotContains(self.client.get("/admin/"), "Jetons d")
            self.assertEqual(self.add().status_code, 403)
        self.assertEqual(ApiToken.objects.count(), 1)

    def test_it_is_open_to_the_group_administrateurs(self):
        alice = self.verified_staff("alice", group=ADMINISTRATORS)
        self.assertContains(self.client.get("/admin/"), "Jetons d")
        self.assertEqual(self.client.get(CHANGELIST).status_code, 200)
        response = self.add()
        self.assertEqual(response.status_code, 200, response.content[:3000])
        self.assertEqual(ApiToken.objects.get(name="nextcloud").created_by, alice)

    def test_it_needs_the_second_factor(self):
        self.client.logout()
        self.client.force_login(self.admin)  # password alone, no OTP
        response = self.client.get(f"{CHANGELIST}add/")
        self.assertEqual(response.status_code, 302)
        self.assertIn("/admin/login/", response["Location"])
