"""« Alias et listes » in the admin, and what the mailbox pages show of aliases and quotas."""

from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.models import Alias, AliasDestination, Mailbox
from audit.models import AuditRecord
from provisioning import aliases, mailserver, quotas, tasks

from ..base import (
    DOMAIN,
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    login_with_otp,
    make_verified_admin,
)

LIST_URL = "/admin/accounts/alias/"
ADD_URL = "/admin/accounts/alias/add/"
MAILBOXES_URL = "/admin/accounts/mailbox/"
PIERRE = f"pierre@{DOMAIN}"
MARIE = f"marie@{DOMAIN}"
BUREAU = f"bureau@{DOMAIN}"
MB = 1024**2
GB = 1024**3


class AdminTestCase(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.user, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.user, static, tokens[0])
        self.pierre = create_pierre().mailbox
        self.marie = create_pierre(
            local_part="marie", full_name="Marie Martin", personal_email="marie@example.org"
        ).mailbox


class AliasAdminTests(AdminTestCase):
    def post_new(self, local_part="bureau", destinations=f"{PIERRE}\n{MARIE}\n", **extra):
        data = {"local_part": local_part, "domain": self.domain.pk,
                "destinations": destinations, "active": "on", **extra}  # fmt: skip
        with self.captureOnCommitCallbacks(execute=False):
            return self.client.post(ADD_URL, data, follow=True)

    def test_it_is_called_alias_et_listes_on_the_index(self):
        self.assertContains(self.client.get("/admin/"), "Alias et listes")

    def test_it_creates_an_alias_from_one_destination_a_line(self):
        response = self.post_new()
        self.assertEqual(response.redirect_chain[-1][0], LIST_URL)
        alias = Alias.objects.get()
        self.assertEqual(alias.address, BUREAU)
        self.assertEqual(
            list(alias.destinations.values_list("address", flat=True)), [PIERRE, MARIE]
        )
        self.assertContains(response, "en cours d&#x27;écriture")
        record = AuditRecord.objects.get(action="alias_create")
        self.assertEqual(record.actor, self.user)
        tasks.sync_alias(alias.pk)
        self.assertContains(self.client.get(LIST_URL), "à jour")

    def test_it_shows_french_errors_and_writes_nothing(self):
        cases = {
            "n&#x27;existe pas : ni adresse mail, ni alias": f"{PIERRE}\npaul@{DOMAIN}",
            "ce n&#x27;est pas une adresse email valide": "marie@@example.org",
            "Ce champ est obligatoire": "\n \n",
            "Boucle": f"{PIERRE}\n{BUREAU}",
        }
        for message, destinations in cases.items():
            with self.subTest(message=message):
                response = self.post_new(destinations=destinations)
                self.assertContains(response, message)
                self.assertEqual((Alias.objects.count(), AliasDestination.objects.count()), (0, 0))
        self.assertIsNone(mailserver.alias_row(BUREAU))

    def test_it_refuses_the_address_of_a_mailbox(self):
        response = self.post_new(local_part="pierre")
        self.assertContains(response, "est une adresse mail (une boîte)")
        self.assertFalse(Alias.objects.exists())

    def test_it_warns_after_saving_a_destination_outside(self):
        response = self.post_new(destinations=f"{PIERRE}\ntresorier@example.org")
        self.assertContains(response, "SRS, par exemple postsrsd")
        self.assertEqual(Alias.objects.get().destinations.filter(external=True).count(), 1)

    def test_it_changes_the_destinations_but_never_the_address(self):
        alias = aliases.alias_save(source=BUREAU, destinations=[PIERRE], actor=TEST_ACTOR).alias
        url = f"{LIST_URL}{alias.pk}/change/"
        page = self.client.get(url)
        self.assertContains(page, PIERRE)
        self.assertNotContains(page, 'name="local_part"')
        data = {"destinations": MARIE, "active": "on", "local_part": "autre"}
        self.client.post(url, data)
        alias.refresh_from_db()
        self.assertEqual(alias.local_part, "bureau")
        self.assertEqual(list(alias.destinations.values_list("address", flat=True)), [MARIE])

    def test_it_disables_with_the_action_and_warns_who_still_points_to_it(self):
        info = aliases.alias_save(source=f"info@{DOMAIN}", destinations=[PIERRE], actor=TEST_ACTOR)
        aliases.alias_save(source=BUREAU, destinations=[f"info@{DOMAIN}"], actor=TEST_ACTOR)
        response = self.client.post(
            LIST_URL, {"action": "disable", "_selected_action": [info.alias.pk]}, follow=True
        )
        self.assertContains(response, f"nfo@{DOMAIN} : désactivé.")  # capitalised
        self.assertContains(response, f"ureau@{DOMAIN} transmet encore à info@{DOMAIN}")
        self.assertFalse(Alias.objects.get(local_part="info").active)

    def test_it_deletes_through_the_use_case(self):
        alias = aliases.alias_save(source=BUREAU, destinations=[PIERRE], actor=TEST_ACTOR).alias
        tasks.sync_alias(alias.pk)
        self.client.post(f"{LIST_URL}{alias.pk}/delete/", {"post": "yes"})
        self.assertEqual(AuditRecord.objects.get(action="alias_delete").outcome, "success")
        self.assertContains(self.client.get(LIST_URL), "suppression en cours")
        tasks.sync_alias(alias.pk)
        self.assertFalse(Alias.objects.exists())
        self.assertIsNone(mailserver.alias_row(BUREAU))

    def test_it_keeps_an_alias_another_one_points_to(self):
        info = aliases.alias_save(source=f"info@{DOMAIN}", destinations=[PIERRE], actor=TEST_ACTOR)
        aliases.alias_save(source=BUREAU, destinations=[f"info@{DOMAIN}"], actor=TEST_ACTOR)
        response = self.client.post(f"{LIST_URL}{info.alias.pk}/delete/", {"post": "yes"})
        self.assertContains(response, "Impossible de supprimer alias")
        self.assertContains(response, f"{BUREAU} → info@{DOMAIN}")
        self.assertFalse(Alias.objects.get(pk=info.alias.pk).deleted)

    def test_it_lists_aliases_with_a_constant_number_of_queries(self):
        def count_queries():
            with CaptureQueriesContext(connection) as queries:
                response = self.client.get(LIST_URL)
            self.assertEqual(response.status_code, 200)
            return len(queries), response

        aliases.alias_save(source=BUREAU, destinations=[PIERRE, MARIE], actor=TEST_ACTOR)
        one, response = count_queries()
        self.assertContains(response, f"{PIERRE}, {MARIE}")
        many = [Alias(domain=self.domain, local_part=f"liste{n}") for n in range(99)]
        Alias.objects.bulk_create(many)
        AliasDestination.objects.bulk_create(
            AliasDestination(alias=alias, address=address, position=n)
            for alias in Alias.objects.filter(local_part__startswith="liste")
            for n, address in enumerate([PIERRE, MARIE, "a@example.org", "b@example.org"])
        )
        hundred, response = count_queries()
        self.assertContains(response, "100 alias")
        self.assertContains(response, f"{PIERRE}, {MARIE}, a@example.org (+1)")
        self.assertEqual(hundred, one)


def quota2(address: str, used: int) -> None:
    with connections[mailserver.ALIAS].cursor() as cursor:
        cursor.execute(
            "INSERT INTO quota2 (username, bytes, messages) VALUES (%s, %s, 1)", [address, used]
        )


class MailboxQuotaAdminTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        for mailbox in (self.pierre, self.marie):
            mailserver.user_set_password(address=mailbox.address, password_hash="{X}y")

    def set_quota(self, mailbox: Mailbox, size: int) -> None:
        quotas.mailbox_set_quota(mailbox=mailbox, quota=size, actor=TEST_ACTOR)
        tasks.sync_mailbox_quota(mailbox.pk)

    def mailbox_page(self, mailbox: Mailbox):
        return self.client.get(f"{MAILBOXES_URL}{mailbox.pk}/change/")

    def test_it_lists_on_the_mailbox_page_the_aliases_that_reach_it(self):
        aliases.alias_save(source=f"info@{DOMAIN}", destinations=[PIERRE], actor=TEST_ACTOR)
        aliases.alias_save(source=BUREAU, destinations=[f"info@{DOMAIN}"], actor=TEST_ACTOR)
        page = self.mailbox_page(self.pierre)
        self.assertContains(page, "Alias qui y mènent")
        self.assertContains(page, f">{BUREAU}</a> (via info@{DOMAIN})")
        self.assertContains(self.mailbox_page(self.marie), "Alias qui y mènent")

    def test_it_shows_the_usage_dovecot_counted_with_a_bar(self):
        self.set_quota(self.pierre, 2 * GB)
        quota2(PIERRE, 412 * MB)
        page = self.mailbox_page(self.pierre)
        self.assertContains(page, "412 Mo sur 2 Go")
        self.assertContains(page, "width:20%")
        self.assertContains(page, "#1a7f37")  # green below 90 %
        listing = self.client.get(MAILBOXES_URL)
        self.assertContains(listing, "412 Mo sur 2 Go")

    def test_it_turns_the_bar_red_when_nearly_full_and_filters_those(self):
        self.set_quota(self.pierre, 2 * GB)
        self.set_quota(self.marie, 2 * GB)
        quota2(PIERRE, 1900 * MB)
        quota2(MARIE, 100 * MB)
        response = self.client.get(MAILBOXES_URL + "?espace=presque_plein")
        self.assertContains(response, "presque plein")
        self.assertContains(response, "1,9 Go sur 2 Go")
        self.assertContains(response, "#cf222e")
        self.assertNotContains(response, MARIE)

    def test_it_shows_nothing_misleading_when_dovecot_has_not_counted(self):
        self.set_quota(self.pierre, 2 * GB)
        page = self.mailbox_page(self.pierre)
        self.assertContains(page, "Usage pas encore relevé par Dovecot.")
        self.assertContains(page, "Limite : 2 Go")
        self.assertNotContains(page, "0 Mo sur")
        self.assertNotContains(self.client.get(MAILBOXES_URL), " sur 2 Go")

    def post_mailbox_page(self, mailbox: Mailbox, **changes):
        """The page's form as the browser sends it (the job history's formset included)."""
        page = self.mailbox_page(mailbox)
        data = {}
        for inline in page.context["inline_admin_formsets"]:
            formset = inline.formset
            management = formset.management_form
            data.update({management.add_prefix(name): management[name].value()
                         for name in management.fields})  # fmt: skip
            for form in formset.forms:
                data.update({form.add_prefix(name): form[name].value() or ""
                             for name in form.fields})  # fmt: skip
        url = f"{MAILBOXES_URL}{mailbox.pk}/change/"
        return self.client.post(url, {**data, **changes}, follow=True)

    def test_it_sets_the_quota_from_the_mailbox_page(self):
        with self.captureOnCommitCallbacks(execute=False):
            response = self.post_mailbox_page(self.pierre, quota="1M")
        self.assertContains(response, "Quota de pierre@octopus-soignies.be : 1 Mo")
        self.pierre.refresh_from_db()
        self.assertEqual(self.pierre.quota, MB)
        self.assertContains(self.mailbox_page(self.pierre), "en cours d&#x27;écriture")
        tasks.sync_mailbox_quota(self.pierre.pk)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], MB)
        self.assertEqual(AuditRecord.objects.get(action="quota_set").actor, self.user)

    def test_it_refuses_a_quota_that_is_not_a_size(self):
        response = self.post_mailbox_page(self.pierre, quota="2X")
        self.assertContains(response, "n&#x27;est pas une taille")
        self.pierre.refresh_from_db()
        self.assertIsNone(self.pierre.quota)

    def test_it_sets_the_domain_default_from_the_domain_page(self):
        url = f"/admin/accounts/domain/{self.domain.pk}/change/"
        form = self.client.get(url).context["adminform"].form
        data = {name: form.initial.get(name) or "" for name in form.fields}
        data.update(default_quota="2G", imap_port=993, smtp_port=465)
        response = self.client.post(url, data, follow=True)
        self.assertContains(response, "Quota par défaut : 2 Go, pour 2 adresse(s)")
        self.domain.refresh_from_db()
        self.assertEqual(self.domain.default_quota, 2 * GB)
        self.assertEqual(self.client.get(url).context["adminform"].form["default_quota"].value(),
                         "2G")  # fmt: skip

    def test_it_warns_when_disabling_a_mailbox_aliases_still_reach(self):
        aliases.alias_save(source=BUREAU, destinations=[PIERRE, MARIE], actor=TEST_ACTOR)
        response = self.client.post(
            MAILBOXES_URL, {"action": "disable", "_selected_action": [self.pierre.pk]}, follow=True
        )
        self.assertContains(response, f"Alias qui mènent encore à {PIERRE} : {BUREAU}")
