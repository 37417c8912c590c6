"""Aliases and lists: the rules (French message, nothing written), the worker's copy to the
mail table (ISPmail here; both layouts on both engines in test_mailschemas), the audit."""

import socket
from datetime import timedelta
from unittest import mock

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Alias, AliasDestination, Mailbox
from audit.models import AuditRecord
from provisioning import aliases, mailserver, mailsync, selectors, services, tasks
from provisioning.aliasrules import MAX_DESTINATIONS
from provisioning.exceptions import TransientError

from ..base import DOMAIN, TEST_ACTOR, OctopusTestCase, create_pierre
from ..celeryworker import broker
from ..fakes.dns_server import LoopbackDns

BUREAU = f"bureau@{DOMAIN}"
INFO = f"info@{DOMAIN}"
PIERRE = f"pierre@{DOMAIN}"
MARIE = f"marie@{DOMAIN}"


def make_mailbox(local_part: str) -> Mailbox:
    return create_pierre(
        local_part=local_part, full_name=local_part.title(), personal_email=f"{local_part}@x.org"
    ).mailbox


def save(source=BUREAU, destinations=(PIERRE, MARIE), **kwargs) -> aliases.AliasOutcome:
    return aliases.alias_save(source=source, destinations=destinations, actor=TEST_ACTOR, **kwargs)


def sync(alias: Alias) -> None:
    """The worker's task for this alias, called by hand as its message would."""
    tasks.sync_alias(alias.pk)


class AliasTestCase(OctopusTestCase):
    def setUp(self):
        super().setUp()
        make_mailbox("pierre")
        make_mailbox("marie")

    def assertRefused(self, message: str, *, source=BUREAU, destinations=(PIERRE,), **kwargs):
        """The French message, and nothing written: neither here nor in the mail table."""
        before = (Alias.objects.count(), AliasDestination.objects.count())
        with self.assertRaises(ValidationError) as caught:
            save(source=source, destinations=destinations, **kwargs)
        self.assertIn(message, " ".join(caught.exception.messages))
        self.assertEqual((Alias.objects.count(), AliasDestination.objects.count()), before)
        self.assertIsNone(mailserver.alias_row(source.strip().lower()))
        record = AuditRecord.objects.filter(action="alias_create").latest("pk")
        self.assertEqual(record.outcome, "refused")
        return caught.exception


class AliasRulesTests(AliasTestCase):
    def test_it_refuses_a_source_on_an_unknown_domain(self):
        self.assertRefused("n'est pas géré ici", source="bureau@exemple.be")

    def test_it_refuses_a_source_without_a_domain(self):
        self.assertRefused("n'est pas une adresse complète", source="bureau")

    def test_it_refuses_a_source_that_is_a_mailbox(self):
        self.assertRefused("est une adresse mail (une boîte)", source=f"Pierre@{DOMAIN}")

    def test_it_refuses_a_source_that_is_a_mailbox_made_by_hand_in_the_mail_table(self):
        mailserver.user_set_password(address=f"jean@{DOMAIN}", password_hash="{X}y")
        self.assertRefused("dans la table du serveur mail", source=f"jean@{DOMAIN}")

    def test_it_refuses_a_source_with_characters_an_address_cannot_hold(self):
        self.assertRefused("n'est pas accepté", source=f"le bureau@{DOMAIN}")

    def test_it_refuses_a_malformed_destination(self):
        error = self.assertRefused(
            "Destination « marie@@example.org » : ce n'est pas une adresse email valide",
            destinations=[PIERRE, "marie@@example.org"],
        )
        self.assertEqual(list(error.message_dict), ["destinations"])

    def test_it_refuses_an_address_of_ours_that_does_not_exist(self):
        self.assertRefused(
            f"paul@{DOMAIN} n'existe pas : ni adresse mail, ni alias",
            destinations=[f"paul@{DOMAIN}"],
        )

    def test_it_refuses_an_alias_to_itself(self):
        self.assertRefused(f"Boucle : {BUREAU} → {BUREAU}", destinations=[PIERRE, BUREAU])

    def test_it_refuses_a_loop_between_two_aliases(self):
        save(source=INFO, destinations=[PIERRE])
        save(source=BUREAU, destinations=[INFO])
        before = list(Alias.objects.get(local_part="info").destinations.values_list("address"))
        with self.assertRaisesMessage(ValidationError, f"Boucle : {INFO} → {BUREAU} → {INFO}"):
            save(source=INFO, destinations=[BUREAU])
        after = Alias.objects.get(local_part="info").destinations.values_list("address")
        self.assertEqual(list(after), before)

    def test_it_refuses_a_loop_through_several_aliases(self):
        tresorier = f"tresorier@{DOMAIN}"
        save(source=tresorier, destinations=[MARIE])
        save(source=INFO, destinations=[tresorier])
        save(source=BUREAU, destinations=[INFO, PIERRE])
        with self.assertRaisesMessage(
            ValidationError, f"Boucle : {tresorier} → {BUREAU} → {INFO} → {tresorier}"
        ):
            save(source=tresorier, destinations=[MARIE, BUREAU])

    def test_it_refuses_more_than_100_destinations(self):
        outside = [f"membre{n}@example.org" for n in range(MAX_DESTINATIONS + 1)]
        self.assertRefused("101 destinations : 100 au plus", destinations=outside)

    def test_it_accepts_100_destinations(self):
        outside = [f"membre{n}@example.org" for n in range(MAX_DESTINATIONS)]
        self.assertEqual(save(destinations=outside).alias.destinations.count(), 100)

    def test_it_refuses_an_alias_without_destination(self):
        self.assertRefused("Indiquez au moins une destination", destinations=["", "  "])

    def test_it_refuses_to_add_an_alias_that_exists_when_asked_for_a_new_one(self):
        save()
        with self.assertRaisesMessage(ValidationError, f"L'alias {BUREAU} existe déjà"):
            save(destinations=[MARIE], new=True)
        self.assertEqual(Alias.objects.get().destinations.count(), 2)

    def test_it_refuses_a_new_mailbox_on_an_alias_address(self):
        save()
        problem = services.mailbox_address_problem(local_part="bureau", domain=self.domain)
        self.assertEqual(problem, f"L'adresse {BUREAU} existe déjà (c'est un alias).")


class AliasWarningTests(LoopbackDns, AliasTestCase):
    ZONE = "example.org. 3600 IN MX 10 mx.example.org.\nmx.example.org. 3600 IN A 192.0.2.25\n"

    def setUp(self):
        super().setUp()
        self.dns.load(self.ZONE)

    def test_it_warns_that_forwarding_outside_breaks_spf_unless_the_server_uses_srs(self):
        outcome = save(destinations=[PIERRE, "tresorier@example.org"])
        [warning] = outcome.warnings
        self.assertIn("Transfert vers l'extérieur (tresorier@example.org)", warning)
        self.assertIn("DMARC strict", warning)
        self.assertIn("SRS, par exemple postsrsd", warning)
        self.assertEqual(Alias.objects.get().destinations.filter(external=True).count(), 1)

    def test_it_warns_about_an_outside_domain_without_mx_and_still_saves(self):
        outcome = save(destinations=["tresorier@gmial.com"])
        self.assertIn("le domaine gmial.com n'existe pas dans le DNS", outcome.warnings[1])
        self.assertIn("tresorier@gmial.com risque de ne jamais arriver", outcome.warnings[1])
        self.assertTrue(Alias.objects.filter(local_part="bureau").exists())
        record = AuditRecord.objects.get(action="alias_create")
        self.assertIn("gmial.com", record.detail)

    def test_it_warns_about_a_disabled_mailbox(self):
        services.mailbox_disable(mailbox=PIERRE, actor=TEST_ACTOR)
        outcome = save()
        self.assertEqual(
            outcome.warnings, (f"{PIERRE} est désactivée : le courrier que l'alias lui transmet "
                               "est refusé tant qu'elle n'est pas réactivée.",),
        )  # fmt: skip


class AliasWritingTests(AliasTestCase):
    def test_it_creates_an_alias_and_the_worker_writes_one_row_per_destination(self):
        with self.captureOnCommitCallbacks() as rung:
            outcome = save(destinations=[PIERRE, f" Marie@{DOMAIN.upper()} ", PIERRE])
        self.assertTrue(outcome.created)
        self.assertEqual(len(rung), 1)  # the doorbell, on commit
        alias = outcome.alias
        self.assertEqual(
            list(alias.destinations.values_list("address", flat=True)), [PIERRE, MARIE]
        )
        self.assertIsNone(mailserver.alias_row(BUREAU))  # the worker writes it
        self.assertFalse(alias.synced)
        sync(alias)
        self.assertTrue(Alias.objects.get().synced)
        self.assertEqual(
            mailserver.alias_row(BUREAU), {"destinations": [PIERRE, MARIE], "active": True}
        )

    def test_it_replaces_the_destinations_of_an_existing_alias(self):
        sync(save().alias)
        outcome = save(destinations=[MARIE, "tresorier@example.org"])
        self.assertFalse(outcome.created)
        sync(outcome.alias)
        self.assertEqual(
            mailserver.alias_row(BUREAU)["destinations"], [MARIE, "tresorier@example.org"]
        )
        self.assertEqual(AliasDestination.objects.count(), 2)

    def test_it_records_each_act_in_the_audit_trail(self):
        alias = save().alias
        save(destinations=[MARIE])
        aliases.alias_set_active(alias=alias, active=False, actor=TEST_ACTOR)
        aliases.alias_delete(alias=BUREAU.upper(), actor=TEST_ACTOR)
        acts = AuditRecord.objects.order_by("pk").values_list("action", "target", "detail")
        self.assertEqual(
            [act for act in acts if act[0].startswith("alias")],
            [
                ("alias_create", BUREAU, f"→ {PIERRE}, {MARIE}"),
                ("alias_change", BUREAU, f"→ {MARIE}"),
                ("alias_change", BUREAU, "désactivé"),
                ("alias_delete", BUREAU, f"→ {MARIE}"),
            ],
        )

    def test_it_removes_a_disabled_alias_from_the_table_and_brings_it_back(self):
        alias = save().alias
        sync(alias)
        aliases.alias_set_active(alias=alias, active=False, actor=TEST_ACTOR)
        sync(alias)
        self.assertIsNone(mailserver.alias_row(BUREAU))  # ISPmail: no row, no delivery
        aliases.alias_set_active(alias=alias, active=True, actor=TEST_ACTOR)
        sync(alias)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [PIERRE, MARIE])

    def test_it_deletes_the_alias_once_the_worker_removed_its_rows(self):
        alias = save().alias
        sync(alias)
        aliases.alias_delete(alias=alias, actor=TEST_ACTOR)
        self.assertTrue(Alias.objects.get().deleted)  # the record waits for the worker
        sync(alias)
        self.assertIsNone(mailserver.alias_row(BUREAU))
        self.assertEqual((Alias.objects.count(), AliasDestination.objects.count()), (0, 0))

    def test_it_refuses_to_delete_an_alias_another_one_points_to(self):
        save(source=INFO, destinations=[PIERRE])
        save(source=BUREAU, destinations=[INFO])
        with self.assertRaisesMessage(ValidationError, f"{INFO} est une destination de {BUREAU}"):
            aliases.alias_delete(alias=INFO, actor=TEST_ACTOR)
        self.assertFalse(Alias.objects.get(local_part="info").deleted)

    def test_it_keeps_the_alias_pending_while_the_mail_database_is_away(self):
        alias = save().alias
        away = TransientError("La base de données du serveur mail ne répond pas.")
        with (
            mock.patch("provisioning.mailserver.alias_set", side_effect=away),
            self.assertRaises(TransientError),
        ):
            mailsync.alias_sync(alias_id=alias.pk)
        alias.refresh_from_db()
        self.assertFalse(alias.synced)
        self.assertIn("ne répond pas", alias.sync_error)
        self.assertTrue(mailsync.alias_sync(alias_id=alias.pk))
        alias.refresh_from_db()
        self.assertEqual((alias.synced, alias.sync_error), (True, ""))

    def test_it_writes_again_when_the_alias_changed_during_the_write(self):
        alias = save().alias
        real = mailserver.alias_set

        def write_then_change(**kwargs):
            real(**kwargs)
            if kwargs["destinations"] == [PIERRE, MARIE]:  # the administrator saves meanwhile
                save(destinations=[MARIE])

        with mock.patch("provisioning.mailserver.alias_set", side_effect=write_then_change):
            self.assertTrue(mailsync.alias_sync(alias_id=alias.pk))
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [MARIE])
        self.assertTrue(Alias.objects.get().synced)

    def test_it_keeps_a_permanent_refusal_on_the_alias(self):
        alias = save().alias
        mailserver.user_set_password(address=BUREAU, password_hash="{X}y")  # made by hand since
        self.assertFalse(mailsync.alias_sync(alias_id=alias.pk))
        alias.refresh_from_db()
        self.assertIn("est une boîte aux lettres dans la table", alias.sync_error)
        self.assertFalse(alias.synced)

    def test_it_rings_again_for_an_alias_whose_message_was_lost(self):
        alias = save().alias
        long_ago = timezone.now() - timedelta(hours=1)
        Alias.objects.filter(pk=alias.pk).update(sync_requested_at=long_ago)
        with mock.patch("provisioning.tasks.sync_alias.apply_async") as rung:
            with self.captureOnCommitCallbacks(execute=True):
                self.assertEqual(mailsync.mail_table_sweep(), {"aliases": 1, "quotas": 0})
                self.assertEqual(mailsync.mail_table_sweep(), {"aliases": 0, "quotas": 0})
        rung.assert_called_once_with((alias.pk,), countdown=None)

    def test_an_alias_saved_while_the_broker_is_out_of_reach_waits_for_the_sweep(self):
        """A broker that refuses connections (a closed loopback port): the alias is saved,
        the caller gets no error, and the sweep rings again once the broker is back."""
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        with broker(f"redis://127.0.0.1:{closed}/0"):
            with self.assertLogs("provisioning.tasks", "WARNING") as logs:
                with self.captureOnCommitCallbacks(execute=True):
                    alias = save().alias
        self.assertIn("provisioning.sync_alias", logs.output[0])
        self.assertIn("waits for the sweep", logs.output[0])
        self.assertFalse(Alias.objects.get(pk=alias.pk).synced)
        long_ago = timezone.now() - timedelta(hours=1)
        Alias.objects.filter(pk=alias.pk).update(sync_requested_at=long_ago)
        with self.captureOnCommitCallbacks(execute=True):  # the broker is back
            self.assertEqual(mailsync.mail_table_sweep(), {"aliases": 1, "quotas": 0})
        tasks.sync_alias(alias.pk)  # what the worker runs for the message the sweep rang
        self.assertTrue(Alias.objects.get(pk=alias.pk).synced)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [PIERRE, MARIE])


class AliasesReachingTests(AliasTestCase):
    def test_it_lists_the_aliases_that_reach_a_mailbox_directly_and_through_others(self):
        save(source=INFO, destinations=[PIERRE])
        save(source=BUREAU, destinations=[INFO, MARIE])
        save(source=f"contact@{DOMAIN}", destinations=[BUREAU])
        reaching = [(a.address, via) for a, via in selectors.aliases_reaching(PIERRE)]
        self.assertEqual(
            reaching,
            [(INFO, ()), (BUREAU, (INFO,)), (f"contact@{DOMAIN}", (BUREAU, INFO))],
        )
        self.assertEqual([a.address for a, _via in selectors.aliases_reaching(MARIE)],
                         [BUREAU, f"contact@{DOMAIN}"])  # fmt: skip

    def test_it_says_which_aliases_still_reach_a_disabled_mailbox(self):
        save()
        services.mailbox_disable(mailbox=PIERRE, actor=TEST_ACTOR)
        record = AuditRecord.objects.get(action="mailbox_disable")
        self.assertIn(f"Alias qui mènent encore à {PIERRE} : {BUREAU}", record.detail)

    def test_it_says_nothing_when_no_alias_reaches_the_mailbox(self):
        self.assertIsNone(selectors.still_reaching_note(PIERRE))
