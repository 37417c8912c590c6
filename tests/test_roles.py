"""Roles (#16): « Administrateurs » see everything, a « Gestionnaire » only the domains
entrusted to them. Two domains, each with a mailbox, a member, aliases, requests, an import
and jobs; every admin URL crawled as four personas; then each way in tried by hand."""

import io

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory, override_settings
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Alias, Domain, Mailbox
from api import services as api_services
from audit.models import Action, AuditRecord
from memberrequests import imports
from memberrequests.models import MemberImport, MemberRequest
from provisioning import aliases, services
from provisioning.models import ProvisioningJob
from roles.groups import ADMINISTRATORS, MANAGERS
from roles.models import DomainDelegation

from .base import (
    ADMIN_PASSWORD,
    DOMAIN,
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
)
from .test_security import ID_CONVERTER, admin_urls

OTHER = "autre-asso.be"
# What a gestionnaire of DOMAIN alone may never read: the other domain's data.
OTHER_DATA = [OTHER, "Marie Lambert", "marie.lambert@example.net", "Julie Martin",
              "julie.martin@example.net", "Luc Dubois", "luc.dubois@example.net"]  # fmt: skip
# What someone with no domain may not read either.
OWN_DATA = ["Anouk Verlaine", "anouk.verlaine@example.org", f"anouk@{DOMAIN}",
            f"secretariat@{DOMAIN}", "Jeanne Petit", "jeanne.petit@example.org",
            "Anne Maes"]  # fmt: skip
ANOUK = {"local_part": "anouk", "full_name": "Anouk Verlaine",
         "personal_email": "anouk.verlaine@example.org"}  # fmt: skip
ADMINISTRATORS_ONLY = {"accounts.domain", "auth.user", "auth.group", "audit.auditrecord",
                       "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog",
                       "api.apitoken"}  # fmt: skip
OK_OR_REFUSED = {200, 302, 403, 404, 405}
MAILBOXES = "/admin/accounts/mailbox/"
REQUESTS = "/admin/memberrequests/memberrequest/"
IMPORTS = "/admin/memberrequests/memberimport/"
CSV_HEADER = "nom;adresse;email personnel;gsm\n"


def make_verified_staff(username: str, *, group: str | None = None, domains=()):
    """A staff user who is no superuser, with a second factor; maybe in a group, with domains."""
    user = get_user_model().objects.create_user(
        username, f"{username}@example.org", ADMIN_PASSWORD, is_staff=True
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    for domain in domains:
        DomainDelegation.objects.create(user=user, domain=domain)
    TOTPDevice.objects.create(user=user, name="téléphone", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="secours", confirmed=True)
    StaticToken.objects.create(device=static, token="tok00001")
    return user, static


def model_label(url: str) -> str:
    """`/admin/accounts/mailbox/3/change/` → `accounts.mailbox` ('' for the site's own)."""
    parts = url.strip("/").split("/")
    return f"{parts[1]}.{parts[2]}" if len(parts) > 2 else ""


def change_url(obj) -> str:
    return f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"


def object_urls(obj) -> list[str]:
    """Every URL of `obj`'s admin that names an object, with `obj`'s pk."""
    opts = obj._meta
    prefix = f"/admin/{opts.app_label}/{opts.model_name}/"
    routes = [str(p.pattern) for p in admin.site.get_model_admin(type(obj)).get_urls()]
    return [prefix + ID_CONVERTER.sub(str(obj.pk), r) for r in routes if ID_CONVERTER.search(r)]


class RolesTestCase(OctopusTestCase):
    """Domain « octopus-soignies.be » (own) and « autre-asso.be » (other), each with data."""

    def setUp(self):
        super().setUp()
        self.claire, static, tokens = make_verified_admin()
        self.other = Domain.objects.create(name=OTHER, imap_host=OTHER, smtp_host=OTHER)
        self.make_own_data()
        self.make_other_data()
        self.mixed = imports.member_import_preview(
            data=(CSV_HEADER + f"Luc Dubois;luc@{OTHER};luc.dubois@example.net;0470554433\n")
            .encode(),
            file_name="mixte.csv", domain=self.domain, uploaded_by=self.claire,
        )  # fmt: skip
        self.token = api_services.api_token_create(
            name="inscriptions", scopes=["mailboxes:read"], domains=[], expires_in_days=30,
            actor=TEST_ACTOR,
        ).token  # fmt: skip
        self.clients = {}
        self.alice = self.persona("alice", group=ADMINISTRATORS)
        self.gaston = self.persona("gaston", group=MANAGERS, domains=[self.domain])
        self.nadia = self.persona("nadia", group=MANAGERS)
        self.sam = self.persona("sam")

    def make_own_data(self):
        self.anouk = deliver(create_pierre(**ANOUK)).mailbox
        aliases.alias_save(
            source=f"secretariat@{DOMAIN}", destinations=f"anouk@{DOMAIN}", actor=TEST_ACTOR
        )
        self.own_request = MemberRequest.objects.create(
            kind=MemberRequest.Kind.ADDRESS, status=MemberRequest.Status.PENDING,
            full_name="Jeanne Petit", local_part="jeanne", domain=self.domain,
            personal_email="jeanne.petit@example.org", phone="+32470111222",
        )  # fmt: skip
        self.own_import = imports.member_import_preview(
            data=(CSV_HEADER + "Anne Maes;anne;anne.maes@example.org;0470665544\n").encode(),
            file_name="membres.csv", domain=self.domain, uploaded_by=self.claire,
        )  # fmt: skip

    def make_other_data(self):
        outcome = services.mailbox_create(
            local_part="marie", domain=self.other, full_name="Marie Lambert",
            personal_email="marie.lambert@example.net", phone="+32470999888", actor=TEST_ACTOR,
        )  # fmt: skip
        self.marie = outcome.mailbox
        self.marie_job = outcome.job
        self.info = aliases.alias_save(
            source=f"info@{OTHER}", destinations=f"marie@{OTHER}", actor=TEST_ACTOR
        ).alias
        # Another domain's list that reaches our Anouk: its name is not ours to show.
        aliases.alias_save(
            source=f"liste@{OTHER}", destinations=f"anouk@{DOMAIN}", actor=TEST_ACTOR
        )
        self.other_request = MemberRequest.objects.create(
            kind=MemberRequest.Kind.ADDRESS, status=MemberRequest.Status.PENDING,
            full_name="Julie Martin", local_part="julie", domain=self.other,
            personal_email="julie.martin@example.net", phone="+32470333444",
        )  # fmt: skip
        self.other_password_request = MemberRequest.objects.create(
            kind=MemberRequest.Kind.PASSWORD, status=MemberRequest.Status.PENDING,
            mailbox=self.marie,
        )  # fmt: skip
        MemberRequest.objects.create(
            kind=MemberRequest.Kind.PASSWORD, status=MemberRequest.Status.RECEIVED,
            asked_address=f"marie@{OTHER}",
        )  # fmt: skip
        self.other_import = imports.member_import_preview(
            data=(CSV_HEADER + "Luc Dubois;luc;luc.dubois@example.net;0470554433\n").encode(),
            file_name="autres.csv", domain=self.other, uploaded_by=self.claire,
        )  # fmt: skip

    def persona(self, username: str, **roles):
        user, static = make_verified_staff(username, **roles)
        client = self.client_class()
        login_with_otp(client, user, static, "tok00001")
        self.clients[username] = client
        return user

    def other_objects(self) -> list:
        return [self.marie, self.marie.member, self.info, self.marie_job, self.other_request,
                self.other_password_request, self.other_import, self.mixed]  # fmt: skip

    def assertShowsNone(self, response, markers):
        body = response.content.decode()
        for marker in markers:
            self.assertNotIn(marker, body, response.request["PATH_INFO"])


@override_settings(DNS_NAMESERVERS=["127.0.0.1:9"], DNS_TIMEOUT=1, DNS_LIFETIME=1)
class RoleCrawlTests(RolesTestCase):
    """Every admin URL, as each persona: it works or it refuses, and shows nothing it may not."""

    def crawl(self, username: str, hidden: list[str]) -> dict[str, int]:
        client = self.clients[username]
        own = admin_urls()  # each model's first object: ours, made first
        other = [url for obj in self.other_objects() for url in object_urls(obj)]
        statuses = {}
        for url in sorted(set(own + other)):
            with self.subTest(user=username, url=url):
                response = client.get(url)
                statuses[url] = response.status_code
                self.assertIn(response.status_code, OK_OR_REFUSED, url)
                if response.status_code == 302:
                    self.assertFalse(response["Location"].startswith("/admin/login/"), url)
                    response = client.get(response["Location"])
                self.assertShowsNone(response, hidden)
        for url in other:
            with self.subTest(user=username, url=url, other=True):
                self.assertNotEqual(statuses[url], 200, url)
        self.assertGreater(len(statuses), 80)
        return statuses

    def assertAdministratorsOnlyRefused(self, statuses):
        for url, status in statuses.items():
            if model_label(url) in ADMINISTRATORS_ONLY:
                with self.subTest(url=url):
                    self.assertNotEqual(status, 200, url)
                    if url.endswith(("/add/", "/change/")) or url.count("/") == 4:
                        self.assertEqual(status, 403, url)

    def test_it_shows_everything_to_an_administrator_of_the_group(self):
        client = self.clients["alice"]
        for url in admin_urls() + [u for o in self.other_objects() for u in object_urls(o)]:
            with self.subTest(url=url):
                self.assertIn(client.get(url).status_code, OK_OR_REFUSED, url)
        for url in ["/admin/auth/user/", "/admin/accounts/domain/", "/admin/audit/auditrecord/",
                    "/admin/api/apitoken/", "/admin/api/apitoken/add/", change_url(self.token),
                    *(change_url(obj) for obj in self.other_objects())]:  # fmt: skip
            with self.subTest(url=url):
                self.assertEqual(client.get(url).status_code, 200, url)
        self.assertContains(client.get(MAILBOXES), f"marie@{OTHER}")

    def test_it_shows_a_gestionnaire_their_domain_and_nothing_of_another(self):
        statuses = self.crawl("gaston", OTHER_DATA)
        self.assertAdministratorsOnlyRefused(statuses)
        for obj in self.other_objects():
            for url in object_urls(obj):
                if url.endswith(("/change/", "/history/", "/delete/", "/statut/", "/rapport.csv")):
                    with self.subTest(url=url):
                        self.assertEqual(statuses[url], 404, url)
        own = [MAILBOXES, f"{MAILBOXES}add/", f"{IMPORTS}add/", change_url(self.anouk),
               change_url(self.own_request), change_url(self.own_import),
               change_url(self.anouk.member), f"{IMPORTS}{self.own_import.pk}/statut/"]  # fmt: skip
        for url in own:
            self.assertEqual(statuses[url], 200, url)

    def test_it_shows_a_gestionnaire_without_a_domain_nothing_at_all(self):
        statuses = self.crawl("nadia", OTHER_DATA + OWN_DATA)
        self.assertAdministratorsOnlyRefused(statuses)
        for url in object_urls(self.anouk) + object_urls(self.own_request):
            if url.endswith(("/change/", "/history/", "/statut/")):
                self.assertEqual(statuses[url], 404, url)
        self.assertContains(self.clients["nadia"].get("/admin/"), "Aucun domaine ne vous est confi")

    def test_it_shows_a_staff_member_without_a_group_nothing_at_all(self):
        statuses = self.crawl("sam", OTHER_DATA + OWN_DATA)
        for url, status in statuses.items():
            if model_label(url) and url.endswith(("/add/", "/change/")):
                with self.subTest(url=url):
                    self.assertIn(status, {403, 404}, url)
        for url in [MAILBOXES, REQUESTS, IMPORTS, "/admin/accounts/member/"]:
            self.assertEqual(statuses[url], 403, url)


class ScopeTests(RolesTestCase):
    """A gestionnaire of octopus-soignies.be alone, and each way to reach autre-asso.be."""

    def setUp(self):
        super().setUp()
        self.gestion = self.clients["gaston"]

    def post_action(self, url: str, action: str, *objects, client=None, **extra):
        data = {"action": action, "_selected_action": [o.pk for o in objects], **extra}
        return (client or self.gestion).post(url, data, follow=True)

    def test_it_lists_searches_and_filters_only_the_gestionnaires_domain(self):
        pages = [MAILBOXES, f"{MAILBOXES}?q=marie", f"{MAILBOXES}?sms=in_flight",
                 f"{MAILBOXES}?domain__id__exact={self.other.pk}",
                 "/admin/accounts/member/?q=Lambert",
                 "/admin/accounts/alias/?q=info", "/admin/provisioning/provisioningjob/?q=marie",
                 f"{REQUESTS}?status__exact=all", f"{REQUESTS}?q=julie", IMPORTS]  # fmt: skip
        for url in pages:
            with self.subTest(url=url):
                response = self.gestion.get(url)
                self.assertEqual(response.status_code, 200)
                self.assertShowsNone(response, OTHER_DATA + [f"liste@{OTHER}"])
        self.assertContains(self.gestion.get(MAILBOXES), f"anouk@{DOMAIN}")
        self.assertContains(self.gestion.get(f"{REQUESTS}?status__exact=all"), "Jeanne Petit")
        self.assertContains(self.gestion.get(IMPORTS), "membres.csv")
        administrator = self.clients["alice"].get(MAILBOXES)
        self.assertContains(administrator, f"domain__id__exact={self.other.pk}")  # the filter
        self.assertContains(administrator, f"marie@{OTHER}")

    def test_it_answers_no_autocomplete_or_json_with_another_domains_objects(self):
        def autocomplete(app_label, model_name, field_name, term):
            query = f"app_label={app_label}&model_name={model_name}&field_name={field_name}"
            response = self.gestion.get(f"/admin/autocomplete/?{query}&term={term}")
            self.assertEqual(response.status_code, 200)
            return [result["text"] for result in response.json()["results"]]

        self.assertEqual(autocomplete("memberrequests", "memberrequest", "mailbox", "marie"), [])
        self.assertEqual(
            autocomplete("memberrequests", "memberrequest", "mailbox", "anouk"), [f"anouk@{DOMAIN}"]
        )
        self.assertEqual(autocomplete("accounts", "mailbox", "member", "Lambert"), [])
        self.assertEqual(self.gestion.get(f"{MAILBOXES}{self.marie.pk}/statut/").status_code, 404)
        answers = [
            self.gestion.get(f"{MAILBOXES}disponible/?domain={domain}&local_part=marie").json()
            for domain in (self.other.pk, 999999, "abc", "")
        ]
        self.assertEqual(answers, [{"ok": False, "message": ""}] * 4)  # as if unknown
        own = self.gestion.get(f"{MAILBOXES}disponible/?domain={self.domain.pk}&local_part=paul")
        self.assertEqual(own.json(), {"ok": True, "message": f"paul@{DOMAIN} est libre."})

    def test_it_counts_on_the_dashboard_only_the_gestionnaires_domain(self):
        def counts(username):
            rows = self.clients[username].get("/admin/").context["dashboard"]
            return {str(row["label"]): row["count"] for row in rows}

        waiting, in_flight = "Demandes des membres à traiter", "Envois en attente ou en cours"
        self.assertEqual((counts("alice")[waiting], counts("alice")[in_flight]), (3, 1))
        self.assertEqual((counts("gaston")[waiting], counts("gaston")[in_flight]), (1, 0))
        self.assertEqual(set(counts("nadia").values()), {0})
        self.assertEqual(counts("sam"), {})
        self.assertContains(self.gestion.get("/admin/"), f"Vos domaines : {DOMAIN}.")

    def test_it_changes_nothing_of_another_domain_by_url(self):
        jobs = ProvisioningJob.objects.count()
        posts = [
            (f"{MAILBOXES}{self.marie.pk}/nouveau-mot-de-passe/", {}),
            (f"{MAILBOXES}{self.marie.pk}/change/", {"quota": "1G"}),
            (f"/admin/accounts/member/{self.marie.member_id}/change/",
             {"full_name": "X", "personal_email": "x@example.org", "phone": "0470000000"}),
            (f"/admin/accounts/alias/{self.info.pk}/change/",
             {"destinations": f"marie@{OTHER}", "active": ""}),
            (f"/admin/accounts/alias/{self.info.pk}/delete/", {"post": "yes"}),
            (f"{IMPORTS}{self.other_import.pk}/confirmer/", {}),
            (f"{IMPORTS}{self.mixed.pk}/confirmer/", {}),
            (f"{REQUESTS}{self.other_request.pk}/change/", {}),
        ]  # fmt: skip
        for url, data in posts:
            with self.subTest(url=url):
                self.assertEqual(self.gestion.post(url, data).status_code, 404)
        self.assertEqual(ProvisioningJob.objects.count(), jobs)
        self.marie.refresh_from_db()
        self.assertEqual((self.marie.quota, self.marie.member.full_name), (None, "Marie Lambert"))
        self.assertTrue(Alias.objects.get(pk=self.info.pk).active)
        self.assertEqual(
            set(MemberImport.objects.values_list("status", flat=True)),
            {MemberImport.Status.PREVIEWED},
        )

    def test_it_changes_nothing_of_another_domain_by_any_action(self):
        """Every action a gestionnaire is offered, posted with another domain's ids, as is
        and with what its confirmation page would add: nothing happens, nothing is shown."""
        request = RequestFactory().get("/admin/")
        request.user = get_user_model().objects.get(pk=self.gaston.pk)
        requests = [self.other_request, self.other_password_request]
        lists = [(MAILBOXES, [self.marie]), ("/admin/accounts/member/", [self.marie.member]),
                 ("/admin/accounts/alias/", [self.info]),
                 (f"{REQUESTS}?status__exact=all", requests),
                 (IMPORTS, [self.other_import, self.mixed]),
                 ("/admin/provisioning/provisioningjob/", [self.marie_job])]  # fmt: skip
        jobs, posted = ProvisioningJob.objects.count(), []
        confirmation = {"confirm": "1", "post": "yes", "reason": "Non", "erase": "now"}
        for url, objects in lists:
            model_admin = admin.site.get_model_admin(type(objects[0]))
            for action in model_admin.get_actions(request):
                for extra in ({}, confirmation):
                    with self.subTest(url=url, action=action, **extra):
                        response = self.post_action(url, action, *objects, **extra)
                        self.assertIn(response.status_code, {200, 302})
                        if response["Content-Type"].startswith("text/html"):
                            self.assertShowsNone(response, OTHER_DATA)
                        else:  # a download: of nothing
                            self.assertNotIn(b"Marie", response.content)
                posted.append(action)
        self.assertIn("reset_password", posted)
        self.assertIn("approve", posted)
        self.post_action(MAILBOXES, "reset_password", self.marie, self.anouk, select_across="1")
        self.assertEqual(ProvisioningJob.objects.filter(mailbox=self.marie).count(), 1)
        self.assertEqual(ProvisioningJob.objects.count(), jobs + 1)  # Anouk's only
        marie = Mailbox.objects.select_related("member").get(pk=self.marie.pk)
        self.assertEqual((marie.status, marie.member.full_name),
                         (Mailbox.Status.PENDING, "Marie Lambert"))  # fmt: skip
        self.assertTrue(Alias.objects.get(pk=self.info.pk).active)
        for member_request in requests:
            member_request.refresh_from_db()
            self.assertEqual(member_request.status, MemberRequest.Status.PENDING)

    def test_it_lets_a_gestionnaire_create_and_reset_in_their_domain_only(self):
        new = {"full_name": "Paul Peeters", "local_part": "paul", "personal_email":
               "paul.peeters@example.org", "phone": "0470 22 33 44"}  # fmt: skip
        refused = self.gestion.post(f"{MAILBOXES}add/", {**new, "domain": self.other.pk})
        self.assertContains(refused, "Sélectionnez un choix valide")
        self.assertFalse(Mailbox.objects.filter(local_part="paul").exists())
        with self.captureOnCommitCallbacks(execute=True):
            created = self.gestion.post(f"{MAILBOXES}add/", {**new, "domain": self.domain.pk})
        self.assertEqual(created.status_code, 302)
        paul = Mailbox.objects.get(local_part="paul")
        self.assertEqual((paul.domain, ProvisioningJob.objects.get(mailbox=paul).requested_by),
                         (self.domain, self.gaston))  # fmt: skip
        reset = self.gestion.post(f"{MAILBOXES}{self.anouk.pk}/nouveau-mot-de-passe/")
        self.assertEqual(reset.status_code, 302)
        self.assertEqual(
            ProvisioningJob.objects.filter(mailbox=self.anouk).latest("pk").kind,
            ProvisioningJob.Kind.RESET,
        )
        self.assertContains(self.gestion.get(f"{MAILBOXES}add/"), f'value="{self.domain.pk}"')

    def test_it_lets_a_gestionnaire_approve_a_request_of_their_domain(self):
        response = self.post_action(f"{REQUESTS}?status__exact=pending", "approve",
                                    self.own_request)  # fmt: skip
        self.assertContains(response, f"Adresse jeanne@{DOMAIN} créée")
        self.own_request.refresh_from_db()
        self.assertEqual(self.own_request.status, MemberRequest.Status.APPROVED)
        self.assertEqual(self.own_request.decided_by, self.gaston)

    def upload(self, text: str, domain: Domain):
        upload = io.BytesIO((CSV_HEADER + text).encode())
        upload.name = "gaston.csv"
        return self.gestion.post(f"{IMPORTS}add/", {"file": upload, "domain": domain.pk},
                                 follow=True)  # fmt: skip

    def test_it_lets_a_gestionnaire_import_a_csv_into_their_domain(self):
        response = self.upload("Luc Martin;lucm;luc.martin@example.org;0470778899\n", self.domain)
        self.assertContains(response, f"lucm@{DOMAIN}")
        member_import = MemberImport.objects.get(file_name="gaston.csv")
        confirmed = self.gestion.post(f"{IMPORTS}{member_import.pk}/confirmer/", follow=True)
        self.assertContains(confirmed, "1 adresses créées")
        self.assertTrue(Mailbox.objects.filter(local_part="lucm", domain=self.domain).exists())

    def test_it_refuses_in_french_an_import_reaching_another_domain(self):
        imports_before = MemberImport.objects.count()
        response = self.upload("Luc Martin;lucm;luc.martin@example.org;0470778899\n", self.other)
        self.assertContains(response, "Sélectionnez un choix valide")
        response = self.upload(
            "Luc Martin;lucm;luc.martin@example.org;0470778899\n"
            f"Eva Claes;eva@{OTHER};eva.claes@example.org;0470778800\n",
            self.domain,
        )
        self.assertContains(response, "Ligne(s) 3 : adresse(s) d&#x27;un domaine qui ne vous")
        self.assertContains(response, "Rien n&#x27;est importé")
        self.assertEqual(MemberImport.objects.count(), imports_before)
        self.assertFalse(Mailbox.objects.filter(local_part="lucm").exists())

    def test_it_refuses_alias_destinations_of_another_domain_without_telling_if_they_exist(self):
        def add(destination):
            return self.gestion.post("/admin/accounts/alias/add/", {
                "local_part": "equipe", "domain": self.domain.pk, "destinations": destination,
                "active": "on"})  # fmt: skip

        for destination in (f"marie@{OTHER}", f"personne@{OTHER}"):
            with self.subTest(destination=destination):
                self.assertContains(add(destination), f"{destination} : pas dans vos domaines")
        self.assertFalse(Alias.objects.filter(local_part="equipe").exists())
        self.assertEqual(add(f"anouk@{DOMAIN}\nami@example.com").status_code, 302)
        self.assertTrue(Alias.objects.filter(local_part="equipe").exists())

    def test_it_hides_another_domains_aliases_on_a_mailbox_page_and_its_notes(self):
        page = f"{MAILBOXES}{self.anouk.pk}/change/"
        self.assertContains(self.gestion.get(page), f"secretariat@{DOMAIN}")
        self.assertNotContains(self.gestion.get(page), f"liste@{OTHER}")
        self.assertContains(self.clients["alice"].get(page), f"liste@{OTHER}")
        response = self.post_action(MAILBOXES, "disable", self.anouk)
        self.assertContains(response, f"Alias qui mènent encore à anouk@{DOMAIN} : secretariat@")
        self.assertNotContains(response, f"liste@{OTHER}")


class DefaultDomainTests(RolesTestCase):
    """The add forms' domain: MAIL_DOMAIN for whoever reaches it, a gestionnaire's only
    domain, and none rather than a domain the gestionnaire cannot choose."""

    def initial_domain(self, username: str, url: str):
        return self.clients[username].get(url).context["adminform"].form.initial.get("domain")

    def test_it_offers_a_domain_the_user_may_choose(self):
        third = Domain.objects.create(name="troisieme.be", imap_host="x.be", smtp_host="x.be")
        self.persona("gilles", group=MANAGERS, domains=[self.other])
        self.persona("greta", group=MANAGERS, domains=[self.other, third])
        for url in ("/admin/accounts/mailbox/add/", "/admin/accounts/alias/add/"):
            with self.subTest(url=url):
                self.assertEqual(self.initial_domain("alice", url), self.domain.pk)
                self.assertEqual(self.initial_domain("gaston", url), self.domain.pk)
                self.assertEqual(self.initial_domain("gilles", url), self.other.pk)
                self.assertIsNone(self.initial_domain("greta", url))


class StaffRolesTests(RolesTestCase):
    """An administrator gives roles on the user page; each change is in the audit trail."""

    def user_change(self, client, user, *, groups, domains):
        data = {
            "username": user.username, "email": user.email, "first_name": "", "last_name": "",
            "is_active": "on", "is_staff": "on", "date_joined_0": "2026-01-05",
            "date_joined_1": "10:00:00", "groups": [g.pk for g in groups],
            "domains": [d.pk for d in domains],
        }  # fmt: skip
        return client.post(f"/admin/auth/user/{user.pk}/change/", data)

    def test_it_makes_the_two_groups_with_their_permissions(self):
        managers = Group.objects.get(name=MANAGERS).permissions.all()
        found = {f"{p.content_type.app_label}.{p.codename}" for p in managers}
        models = ["accounts.mailbox", "accounts.member", "accounts.alias",
                  "accounts.aliasdestination", "memberrequests.memberrequest",
                  "memberrequests.memberimport", "memberrequests.memberimportrow"]  # fmt: skip
        expected = {
            label.replace(".", f".{action}_")
            for label in models
            for action in ("view", "add", "change")
        }
        expected.add("provisioning.view_provisioningjob")
        self.assertEqual(found, expected)
        administrators = Group.objects.get(name=ADMINISTRATORS)
        self.assertEqual(administrators.permissions.count(), Permission.objects.count())

    def test_it_lets_an_administrator_entrust_a_domain_and_records_it(self):
        client = self.clients["alice"]
        response = self.user_change(
            client, self.sam, groups=[Group.objects.get(name=MANAGERS)], domains=[self.domain]
        )
        self.assertEqual(response.status_code, 302, response.content.decode()[-3000:])
        self.assertEqual(list(DomainDelegation.objects.filter(user=self.sam)
                              .values_list("domain__name", flat=True)), [DOMAIN])  # fmt: skip
        roles = [Action.USER_DOMAINS_CHANGE, Action.USER_GROUPS_CHANGE]
        records = AuditRecord.objects.filter(target="sam", action__in=roles).order_by("action")
        self.assertEqual(
            [(r.action, r.detail, r.actor) for r in records],
            [(Action.USER_DOMAINS_CHANGE, f"ajouté : {DOMAIN}", self.alice),
             (Action.USER_GROUPS_CHANGE, f"ajouté : {MANAGERS}", self.alice)],
        )  # fmt: skip
        self.assertContains(self.clients["sam"].get(MAILBOXES), f"anouk@{DOMAIN}")
        self.user_change(client, self.sam, groups=[Group.objects.get(name=MANAGERS)],
                         domains=[self.domain])  # fmt: skip
        self.assertEqual(records.count(), 2)  # nothing changed, nothing recorded
        self.user_change(client, self.sam, groups=[], domains=[])
        self.assertEqual(
            AuditRecord.objects.filter(target="sam", detail=f"retiré : {DOMAIN}").count(), 1
        )
        self.assertEqual(self.clients["sam"].get(MAILBOXES).status_code, 403)

    def test_it_keeps_users_and_roles_from_gestionnaires(self):
        gestion = self.clients["gaston"]
        for url in ["/admin/auth/user/", f"/admin/auth/user/{self.gaston.pk}/change/",
                    "/admin/auth/group/", "/admin/accounts/domain/", "/admin/audit/auditrecord/",
                    "/admin/axes/accessattempt/"]:  # fmt: skip
            with self.subTest(url=url):
                self.assertEqual(gestion.get(url).status_code, 403)
        response = self.user_change(gestion, self.gaston, groups=[], domains=[self.other])
        self.assertEqual(response.status_code, 403)
        self.assertEqual(DomainDelegation.objects.get(user=self.gaston).domain, self.domain)
        home = gestion.get("/admin/").content.decode()
        for app in ("/admin/auth/", "/admin/audit/", "/admin/axes/", "/admin/accounts/domain/"):
            self.assertNotIn(f'href="{app}', home)

    def test_it_gives_a_domain_without_the_group_no_page_and_no_json(self):
        DomainDelegation.objects.create(user=self.sam, domain=self.domain)
        sam = self.clients["sam"]
        self.assertEqual(sam.get(MAILBOXES).status_code, 403)
        self.assertEqual(sam.get(f"{MAILBOXES}{self.anouk.pk}/statut/").status_code, 404)
        self.assertEqual(sam.get(f"{MAILBOXES}disponible/?domain={self.domain.pk}").status_code,
                         404)  # fmt: skip
