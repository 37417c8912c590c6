"""/api/v1/aliases/: list, create or replace, delete, through the alias use cases the admin
and createalias/deletealias call (their checks word for word, their audit records)."""

from django.core.exceptions import ValidationError

from accounts.models import Alias, AliasDestination
from api.models import IdempotencyRecord
from audit.models import Action, AuditRecord, Outcome
from provisioning import aliases
from provisioning.aliasrules import alias_check

from ..base import DOMAIN, TEST_ACTOR, create_pierre
from .helpers import ApiTestCase, make_token

ALIASES = "aliases:write"
LIST = "/api/v1/aliases/"
BUREAU = f"bureau@{DOMAIN}"
PIERRE = f"pierre@{DOMAIN}"
OUTSIDE = "pierre.dupont@example.org"
NAME = "API: alias"
KEY = "7d0b1a52-2f8e-4c61-a0c4-5b3e9f2d8a11"


def alias_state() -> tuple:
    return (
        sorted(Alias.objects.values_list("local_part", "deleted", "version")),
        sorted(AliasDestination.objects.values_list("alias__local_part", "address")),
    )


class AliasApiTestCase(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        create_pierre()
        self.secret = make_token("alias", scopes=[ALIASES])
        self.records_before = AuditRecord.objects.count()

    def save(self, body=None, **kwargs):
        body = {"source": BUREAU, "destinations": [PIERRE]} if body is None else body
        return self.call("POST", LIST, body, **kwargs)


class AliasListTests(AliasApiTestCase):
    def test_it_lists_the_aliases_with_their_destinations(self):
        aliases.alias_save(source=BUREAU, destinations=[PIERRE, OUTSIDE], actor=TEST_ACTOR)
        response = self.call("GET", LIST)
        self.assertEqual(response.status_code, 200, response.content)
        (alias,) = response.json()["results"]
        self.assertEqual(alias["address"], BUREAU)
        self.assertEqual(
            alias["destinations"],
            [{"address": PIERRE, "external": False}, {"address": OUTSIDE, "external": True}],
        )
        self.assertEqual((alias["active"], alias["synced"], alias["destination_count"]),
                         (True, False, 2))  # fmt: skip

    def test_it_keeps_a_constant_number_of_queries_for_the_list(self):
        aliases.alias_save(source=BUREAU, destinations=[PIERRE], actor=TEST_ACTOR)
        # token, its domains, last use, count, page, destinations, audit record
        with self.assertNumQueries(7):
            self.call("GET", LIST)
        for n in range(5):
            aliases.alias_save(source=f"liste{n}@{DOMAIN}", destinations=[PIERRE, OUTSIDE],
                               actor=TEST_ACTOR)  # fmt: skip
        with self.assertNumQueries(6):  # last use written once a minute
            self.assertEqual(self.call("GET", LIST).json()["count"], 6)

    def test_it_filters_by_domain_and_hides_aliases_being_deleted(self):
        aliases.alias_save(source=BUREAU, destinations=[PIERRE], actor=TEST_ACTOR)
        aliases.alias_save(source=f"info@{DOMAIN}", destinations=[PIERRE], actor=TEST_ACTOR)
        aliases.alias_delete(alias=f"info@{DOMAIN}", actor=TEST_ACTOR)
        page = self.call("GET", f"{LIST}?domain={DOMAIN}").json()
        self.assertEqual([a["address"] for a in page["results"]], [BUREAU])
        self.assertEqual(self.call("GET", f"{LIST}?domain=ailleurs.be").json()["count"], 0)


class AliasSaveTests(AliasApiTestCase):
    def test_it_creates_the_alias_and_answers_201(self):
        response = self.save({"source": " Bureau@Octopus-Soignies.be ",
                              "destinations": [PIERRE, OUTSIDE]})  # fmt: skip
        self.assertEqual(response.status_code, 201, response.content)
        answer = response.json()
        self.assertEqual(answer["alias"]["address"], BUREAU)
        self.assertEqual((answer["created"], answer["alias"]["destination_count"]), (True, 2))
        self.assertIn("SPF", answer["warnings"][0])
        alias = Alias.objects.get()
        self.assertEqual([d.address for d in alias.destinations.order_by("position")],
                         [PIERRE, OUTSIDE])  # fmt: skip
        record = AuditRecord.objects.latest("pk")
        self.assertEqual((record.action, record.outcome, record.actor_label, record.target),
                         (Action.ALIAS_CREATE, Outcome.SUCCESS, NAME, BUREAU))  # fmt: skip

    def test_it_replaces_the_destinations_of_an_existing_alias_and_answers_200(self):
        aliases.alias_save(source=BUREAU, destinations=[OUTSIDE], actor=TEST_ACTOR, active=False)
        response = self.save()
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual((response.json()["created"], response.json()["alias"]["active"]),
                         (False, False))  # fmt: skip
        self.assertEqual(list(AliasDestination.objects.values_list("address", flat=True)),
                         [PIERRE])  # fmt: skip
        self.assertEqual(AuditRecord.objects.latest("pk").action, Action.ALIAS_CHANGE)
        activated = self.save({"source": BUREAU, "destinations": [PIERRE], "active": True})
        self.assertTrue(activated.json()["alias"]["active"])

    def test_it_gives_the_same_messages_as_createalias_and_writes_nothing(self):
        """One code path: the errors are alias_check's, field by field, in French."""
        body = {"source": f"pierre@{DOMAIN}", "destinations": ["pas une adresse", "x@"]}
        problem = self.assertProblem(self.save(body), 400, code="invalid")
        with self.assertRaises(ValidationError) as caught:
            alias_check(source=body["source"], destinations=body["destinations"])
        self.assertEqual(problem["errors"], caught.exception.message_dict)
        self.assertIn("est une adresse mail", problem["errors"]["source"][0])
        self.assertEqual(alias_state(), ([], []))
        record = AuditRecord.objects.latest("pk")
        self.assertEqual((record.action, record.outcome, record.actor_label),
                         (Action.ALIAS_CREATE, Outcome.REFUSED, NAME))  # fmt: skip

    def test_it_refuses_an_unknown_destination_a_loop_and_no_destination(self):
        for destinations, message in [
            ([f"nobody@{DOMAIN}"], "n'existe pas"),
            ([], "au moins une destination"),
            ([BUREAU], "Boucle"),
        ]:
            with self.subTest(destinations=destinations):
                problem = self.assertProblem(
                    self.save({"source": BUREAU, "destinations": destinations}), 400
                )
                self.assertIn(message, " ".join(problem["errors"]["destinations"]))
        self.assertEqual(alias_state(), ([], []))

    def test_it_refuses_missing_fields_wrong_types_and_unknown_fields(self):
        for body, fields in [
            ({}, {"source", "destinations"}),
            ({"source": BUREAU, "destinations": PIERRE}, {"destinations"}),
            ({"source": BUREAU, "destinations": [PIERRE], "goto": "x"}, {"goto"}),
            ({"source": BUREAU, "destinations": [PIERRE], "active": "peut-être"}, {"active"}),
        ]:
            with self.subTest(body=body):
                problem = self.assertProblem(self.save(body), 400, code="invalid")
                self.assertEqual(set(problem["errors"]), fields)
        self.assertEqual(alias_state(), ([], []))

    def test_it_returns_the_first_answer_to_a_retried_post(self):
        first = self.save(**{"Idempotency-Key": KEY})
        self.assertEqual(first.status_code, 201, first.content)
        retry = self.save(**{"Idempotency-Key": KEY})
        self.assertEqual((retry.status_code, retry.json()), (201, first.json()))
        self.assertEqual(retry["Idempotent-Replayed"], "true")
        self.assertEqual(Alias.objects.get().version, 1)  # not saved twice
        self.assertEqual(AuditRecord.objects.filter(action=Action.ALIAS_CREATE).count(), 1)
        other = self.save({"source": BUREAU, "destinations": [OUTSIDE]},
                          **{"Idempotency-Key": KEY})  # fmt: skip
        self.assertProblem(other, 422, code="idempotency_key_reused")
        self.assertEqual(IdempotencyRecord.objects.count(), 1)


class AliasDeleteTests(AliasApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        aliases.alias_save(source=BUREAU, destinations=[PIERRE], actor=TEST_ACTOR)

    def test_it_deletes_the_alias_as_deletealias_does(self):
        response = self.call("DELETE", f"{LIST}{BUREAU}/")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual((response.json()["deleted"], response.json()["synced"]), (True, False))
        self.assertTrue(Alias.objects.get().deleted)
        record = AuditRecord.objects.latest("pk")
        self.assertEqual((record.action, record.outcome, record.actor_label),
                         (Action.ALIAS_DELETE, Outcome.SUCCESS, NAME))  # fmt: skip
        gone = self.call("DELETE", f"{LIST}{BUREAU}/")
        self.assertIn("n'existe pas", self.assertProblem(gone, 404, code="not_found")["detail"])

    def test_it_answers_409_while_another_alias_sends_to_it(self):
        aliases.alias_save(source=f"info@{DOMAIN}", destinations=[BUREAU], actor=TEST_ACTOR)
        before = alias_state()
        response = self.call("DELETE", f"{LIST}{BUREAU}/")
        problem = self.assertProblem(response, 409, code="conflict")
        self.assertIn(f"destination de info@{DOMAIN}", problem["detail"])
        self.assertEqual(alias_state(), before)
        record = AuditRecord.objects.latest("pk")
        self.assertEqual((record.action, record.outcome), (Action.ALIAS_DELETE, Outcome.REFUSED))
