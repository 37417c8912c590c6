"""A token never reaches another scope or another domain, endpoint by endpoint: a missing
scope is a 403, a mailbox, job or alias of another domain is a 404 as if it did not exist,
and an address of another domain cannot be named in an alias."""

from accounts.models import Alias, AliasDestination, Domain, Mailbox
from provisioning import aliases
from provisioning.models import ProvisioningJob

from ..base import TEST_ACTOR, create_pierre, deliver
from .helpers import BODY, READ, WRITE, ApiTestCase, create_in, make_token, other_domain

ALIASES = "aliases:write"
SCOPES = [READ, WRITE, ALIASES]
# (method, path, scope): {address}, {job} and {alias} are filled in by each test.
ENDPOINTS = [
    ("GET", "/api/v1/mailboxes/", READ),
    ("POST", "/api/v1/mailboxes/", WRITE),
    ("GET", "/api/v1/mailboxes/{address}/", READ),
    ("DELETE", "/api/v1/mailboxes/{address}/", WRITE),
    ("POST", "/api/v1/mailboxes/{address}/reset-password/", WRITE),
    ("POST", "/api/v1/mailboxes/{address}/disable/", WRITE),
    ("POST", "/api/v1/mailboxes/{address}/enable/", WRITE),
    ("GET", "/api/v1/jobs/{job}/", READ),
    ("GET", "/api/v1/aliases/", ALIASES),
    ("POST", "/api/v1/aliases/", ALIASES),
    ("DELETE", "/api/v1/aliases/{alias}/", ALIASES),
]


def state() -> tuple:
    """What an endpoint could change: statuses, jobs, aliases."""
    return (
        sorted(Mailbox.objects.values_list("local_part", "status")),
        ProvisioningJob.objects.count(),
        sorted(Alias.objects.values_list("local_part", "deleted", "version")),
        AliasDestination.objects.count(),
    )


class ScopeIsolationTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.job = deliver(create_pierre())
        alias = aliases.alias_save(
            source="bureau@octopus-soignies.be", destinations=["x@example.org"], actor=TEST_ACTOR
        ).alias
        self.paths = {"address": self.job.mailbox.address, "job": self.job.pk,
                      "alias": alias.address}  # fmt: skip

    def test_it_refuses_each_endpoint_to_a_token_without_its_scope(self):
        """Each scope missing in turn, the two others held: a 403 naming it."""
        tokens = {scope: make_token(f"sans {scope}", scopes=[s for s in SCOPES if s != scope])
                  for scope in SCOPES}  # fmt: skip
        before = state()
        for method, path, scope in ENDPOINTS:
            with self.subTest(method=method, path=path):
                response = self.call(method, path.format(**self.paths), BODY,
                                     secret=tokens[scope])  # fmt: skip
                problem = self.assertProblem(response, 403, code="permission_denied")
                self.assertIn(f"« {scope} »", problem["detail"])
        self.assertEqual(state(), before)

    def test_it_lets_each_endpoint_through_with_its_scope(self):
        tokens = {scope: make_token(scope, scopes=[scope]) for scope in SCOPES}
        for method, path, scope in ENDPOINTS:
            with self.subTest(method=method, path=path):
                response = self.call(method, path.format(**self.paths), {**BODY, "local_part":
                                     "marie"}, secret=tokens[scope])  # fmt: skip
                self.assertNotIn(response.status_code, (401, 403, 404), response.content)

    def test_it_answers_head_only_with_the_read_scope(self):
        response = self.call("HEAD", "/api/v1/mailboxes/", secret=make_token("w", scopes=[WRITE]))
        self.assertEqual(response.status_code, 403)


class DomainIsolationTests(ApiTestCase):
    """The token sees octopus-soignies.be only; marie@autre-asbl.be exists too."""

    def setUp(self) -> None:
        super().setUp()
        self.elsewhere = other_domain()
        self.job = deliver(create_in(self.elsewhere, "marie", "+32470999999"))
        aliases.alias_save(source="info@autre-asbl.be", destinations=["marie@autre-asbl.be"],
                           actor=TEST_ACTOR)  # fmt: skip
        self.secret = make_token("limité", scopes=SCOPES, domains=[self.domain])
        self.paths = {"address": self.job.mailbox.address, "job": self.job.pk,
                      "alias": "info@autre-asbl.be"}  # fmt: skip

    def test_it_answers_404_for_every_object_of_another_domain(self):
        before = state()
        for method, path, _scope in ENDPOINTS:
            if "{" not in path:
                continue
            with self.subTest(method=method, path=path):
                response = self.call(method, path.format(**self.paths))
                problem = self.assertProblem(response, 404, code="not_found")
                # Word for word the answer for an address that does not exist.
                unknown = self.call(method, path.format(address="nobody@autre-asbl.be",
                                    job=999999, alias="nobody@autre-asbl.be")).json()  # fmt: skip
                self.assertEqual(problem["detail"].replace("marie", "nobody").replace(
                    "info@", "nobody@").replace(str(self.job.pk), "999999"),
                    unknown["detail"])  # fmt: skip
        self.assertEqual(state(), before)

    def test_it_leaves_other_domains_out_of_the_list(self):
        create_pierre()
        page = self.call("GET", "/api/v1/mailboxes/").json()
        self.assertEqual([m["address"] for m in page["results"]], ["pierre@octopus-soignies.be"])
        page = self.call("GET", "/api/v1/mailboxes/?domain=autre-asbl.be").json()
        self.assertEqual(page["count"], 0)

    def test_it_refuses_to_create_in_another_domain_as_in_an_unknown_one(self):
        before = state()
        other = self.create({**BODY, "domain": "autre-asbl.be"})
        unknown = self.create({**BODY, "domain": "inconnu.be"})
        for response, name in ((other, "autre-asbl.be"), (unknown, "inconnu.be")):
            problem = self.assertProblem(response, 400, code="invalid")
            self.assertEqual(problem["errors"]["domain"], [
                f"Le domaine « {name} » n'est pas accessible à ce jeton (octopus-soignies.be)."
            ])  # fmt: skip
        self.assertEqual(state(), before)

    def test_it_reaches_the_domains_it_names(self):
        secret = make_token("autre asbl", domains=[self.elsewhere])
        response = self.call("GET", f"/api/v1/mailboxes/{self.paths['address']}/", secret=secret)
        self.assertEqual(response.status_code, 200, response.content)
        created = self.create({**BODY, "domain": "autre-asbl.be"}, secret=secret)
        self.assertEqual(created.status_code, 202, created.content)
        self.assertEqual(Domain.objects.get(mailboxes__local_part="pierre").name, "autre-asbl.be")

    def test_it_leaves_other_domains_aliases_out_of_the_list(self):
        aliases.alias_save(source="bureau@octopus-soignies.be", destinations=["x@example.org"],
                           actor=TEST_ACTOR)  # fmt: skip
        page = self.call("GET", "/api/v1/aliases/").json()
        self.assertEqual([a["address"] for a in page["results"]], ["bureau@octopus-soignies.be"])
        self.assertEqual(self.call("GET", "/api/v1/aliases/?domain=autre-asbl.be").json()["count"],
                         0)  # fmt: skip

    def test_it_refuses_an_alias_in_another_domain_as_in_an_unknown_one(self):
        before = state()
        for name in ("autre-asbl.be", "inconnu.be"):
            with self.subTest(domain=name):
                body = {"source": f"info@{name}", "destinations": ["x@example.org"]}
                problem = self.assertProblem(self.call("POST", "/api/v1/aliases/", body), 400)
                self.assertEqual(problem["errors"]["source"], [
                    f"Le domaine « {name} » n'est pas accessible à ce jeton (octopus-soignies.be)."
                ])  # fmt: skip
        self.assertEqual(state(), before)

    def test_it_never_says_whether_an_address_of_another_domain_exists(self):
        """marie@autre-asbl.be exists, nobody@autre-asbl.be does not: the same refusal."""
        before = state()
        answers = []
        for address in ("marie@autre-asbl.be", "nobody@autre-asbl.be"):
            body = {"source": "bureau@octopus-soignies.be", "destinations": [address]}
            problem = self.assertProblem(self.call("POST", "/api/v1/aliases/", body), 400)
            answers.append(problem["errors"]["destinations"][0].replace(address, "…"))
        self.assertEqual(answers, ["… : pas dans les domaines de ce jeton."] * 2)
        self.assertEqual(state(), before)

    def test_it_names_no_alias_of_another_domain_when_deleting(self):
        pierre = create_pierre().mailbox.address
        for source in ("liste@autre-asbl.be", "bureau@octopus-soignies.be"):
            aliases.alias_save(source=source, destinations=[pierre], actor=TEST_ACTOR)
        response = self.call("DELETE", f"/api/v1/mailboxes/{pierre}/")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["aliases_reaching"], ["bureau@octopus-soignies.be"])

    def test_it_names_no_alias_of_another_domain_in_a_refused_alias_deletion(self):
        bureau = "bureau@octopus-soignies.be"
        aliases.alias_save(source=bureau, destinations=["x@example.org"], actor=TEST_ACTOR)
        aliases.alias_save(source="liste@autre-asbl.be", destinations=[bureau], actor=TEST_ACTOR)
        before = state()
        response = self.call("DELETE", f"/api/v1/aliases/{bureau}/")
        problem = self.assertProblem(response, 409, code="conflict")
        self.assertIn("destination d'un alias d'un autre domaine", problem["detail"])
        self.assertNotIn("autre-asbl", problem["detail"])
        self.assertEqual(state(), before)


class DeletedDomainTests(ApiTestCase):
    def test_it_reaches_nothing_once_its_only_domain_is_deleted(self):
        create_pierre()
        secret = make_token("autre asbl", domains=[other_domain()])
        Domain.objects.get(name="autre-asbl.be").delete()  # no mailbox holds it
        page = self.call("GET", "/api/v1/mailboxes/", secret=secret).json()
        self.assertEqual(page["count"], 0)
        response = self.create(secret=secret)
        problem = self.assertProblem(response, 400)
        self.assertIn("n'est pas accessible à ce jeton (aucun)", problem["errors"]["domain"][0])
