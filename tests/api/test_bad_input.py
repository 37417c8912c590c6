"""The issue's bad-input table, a test per row: each answer is an RFC 9457 problem with a
French detail, and nothing is written."""

from django.core.exceptions import ValidationError

from api.parsers import API_MAX_BODY
from provisioning import aliases, services

from ..base import DOMAIN, TEST_ACTOR, create_pierre
from .helpers import ADDRESS, BODY, READ, WRITE, ApiTestCase, make_token
from .test_aliases import ALIASES, BUREAU, alias_state
from .test_aliases import LIST as ALIAS_LIST

ALIAS = {"source": BUREAU, "destinations": [ADDRESS]}
BAD = {"local_part": "Pierre Dupont", "full_name": "", "personal_email": "pierre@",
       "phone": "0470"}  # fmt: skip


class BadInputTests(ApiTestCase):
    def test_it_refuses_bad_input_field_by_field_in_french_and_writes_nothing(self):
        response = self.create({**BAD, "domain": "octopus-soignies.be"})
        problem = self.assertProblem(response, 400, code="invalid")
        self.assertEqual(set(problem["errors"]), {"local_part", "full_name", "personal_email",
                                                  "phone"})  # fmt: skip
        self.assertTrue(problem["detail"].startswith("Données refusées, rien n'a été enregistré."))
        self.assertEqual(problem["instance"], "/api/v1/mailboxes/")
        self.assertNothingWritten()

    def test_it_gives_the_same_messages_as_the_admins_validation(self):
        """One code path: the API's errors are mailbox_validate's, word for word."""
        problem = self.create(BAD).json()
        with self.assertRaises(ValidationError) as caught:
            services.mailbox_validate(domain=self.domain, **BAD)
        self.assertEqual(problem["errors"], caught.exception.message_dict)

    def test_it_refuses_a_taken_address_and_writes_nothing_more(self):
        create_pierre()
        before = self.counts()
        problem = self.assertProblem(self.create(), 400)
        self.assertEqual(problem["errors"]["local_part"],
                         ["L'adresse pierre@octopus-soignies.be existe déjà."])  # fmt: skip
        self.assertEqual(self.counts(), before)

    def test_it_refuses_missing_fields_and_an_unknown_domain(self):
        problem = self.assertProblem(self.create({"domain": "inconnu.be"}), 400)
        self.assertEqual(problem["errors"]["full_name"], ["Ce champ est obligatoire."])
        self.assertEqual(set(problem["errors"]), {"full_name", "personal_email", "phone"})
        problem = self.assertProblem(self.create({**BODY, "domain": "inconnu.be"}), 400)
        self.assertIn("n'est pas géré ici", problem["errors"]["domain"][0])
        self.assertNothingWritten()

    def test_it_refuses_a_password_field_and_any_unknown_field(self):
        problem = self.assertProblem(self.create({**BODY, "password": "x", "role": "a"}), 400)
        self.assertIn("généré par le serveur", problem["errors"]["password"][0])
        self.assertEqual(problem["errors"]["role"], ["Champ inconnu."])
        self.assertNothingWritten()

    def test_it_answers_404_for_an_unknown_address(self):
        for method, path in [
            ("GET", f"/api/v1/mailboxes/{ADDRESS}/"),
            ("DELETE", f"/api/v1/mailboxes/{ADDRESS}/"),
            ("POST", f"/api/v1/mailboxes/{ADDRESS}/reset-password/"),
            ("POST", f"/api/v1/mailboxes/{ADDRESS}/disable/"),
            ("POST", f"/api/v1/mailboxes/{ADDRESS}/enable/"),
            ("GET", "/api/v1/jobs/999999/"),
            ("GET", "/api/v1/nulle-part/"),
        ]:
            with self.subTest(method=method, path=path):
                problem = self.assertProblem(self.call(method, path), 404, code="not_found")
                self.assertIn("n", problem["detail"])
        self.assertNothingWritten()

    def test_it_answers_405_to_a_wrong_method(self):
        for method, path, allowed in [
            ("PUT", "/api/v1/mailboxes/", "GET, POST"),
            ("PATCH", f"/api/v1/mailboxes/{ADDRESS}/", "GET, DELETE"),
            ("GET", f"/api/v1/mailboxes/{ADDRESS}/reset-password/", "POST"),
            ("DELETE", "/api/v1/jobs/1/", "GET"),
        ]:
            with self.subTest(method=method, path=path):
                response = self.call(method, path, BODY)
                problem = self.assertProblem(response, 405, code="method_not_allowed")
                self.assertIn(f"La méthode {method} n'est pas permise", problem["detail"])
                self.assertIn(allowed, response["Allow"])
        self.assertNothingWritten()

    def test_it_answers_400_to_malformed_json(self):
        for raw in ['{"full_name": "Pierre",', "pas du json", '{"phone": NaN}']:
            with self.subTest(raw=raw):
                problem = self.assertProblem(self.create(raw=raw), 400, code="parse_error")
                self.assertIn("n'est pas du JSON valide", problem["detail"])
        self.assertNothingWritten()

    def test_it_answers_413_to_an_oversized_body(self):
        padding = "x" * API_MAX_BODY
        problem = self.assertProblem(self.create({**BODY, "full_name": padding}), 413)
        self.assertIn("trop grand", problem["detail"])
        self.assertNothingWritten()

    def test_it_answers_413_to_a_body_longer_than_it_says(self):
        """A chunked body declares no length: the parser stops reading past the limit."""
        from io import BytesIO

        from api.parsers import LimitedJSONParser, PayloadTooLarge

        class Request:
            META = {}

        with self.assertRaises(PayloadTooLarge):
            LimitedJSONParser().parse(
                BytesIO(b" " * (API_MAX_BODY + 1)), parser_context={"request": Request()}
            )

    def test_it_answers_415_to_a_body_that_is_not_json(self):
        response = self.create(
            raw="full_name=Pierre", content_type="application/x-www-form-urlencoded"
        )
        problem = self.assertProblem(response, 415, code="unsupported_media_type")
        self.assertIn("envoyez du JSON", problem["detail"])
        self.assertNothingWritten()

    def test_it_answers_401_without_a_token(self):
        response = self.create(secret="")
        problem = self.assertProblem(response, 401, code="not_authenticated")
        self.assertIn("Authorization: Bearer", problem["detail"])
        self.assertEqual(response["WWW-Authenticate"], 'Bearer realm="api"')
        self.assertNothingWritten()

    def test_it_answers_401_to_a_bad_token(self):
        for header in ["Bearer om_pas-un-vrai-jeton", "Bearer", "Bearer a b", "Token x"]:
            with self.subTest(header=header):
                response = self.create(secret="", Authorization=header)
                self.assertEqual(response.status_code, 401, response.content)
                self.assertProblem(response, 401)
        self.assertNothingWritten()

    def test_it_answers_403_when_the_scope_is_missing(self):
        response = self.create(secret=make_token("lecture seule", scopes=[READ]))
        problem = self.assertProblem(response, 403, code="permission_denied")
        self.assertIn("« mailboxes:write »", problem["detail"])
        self.assertNothingWritten()


class AliasBadInputTests(ApiTestCase):
    """The same table for /api/v1/aliases/ (400 field by field, 409 and 422: test_aliases)."""

    def setUp(self) -> None:
        super().setUp()
        create_pierre()
        aliases.alias_save(source=BUREAU, destinations=[ADDRESS], actor=TEST_ACTOR)
        self.secret = make_token("alias", scopes=[ALIASES])
        self.endpoints = [("GET", ALIAS_LIST), ("POST", ALIAS_LIST),
                          ("DELETE", f"{ALIAS_LIST}{BUREAU}/")]  # fmt: skip
        self.before = alias_state()

    def tearDown(self) -> None:
        self.assertEqual(alias_state(), self.before)  # nothing written, whatever the row
        super().tearDown()

    def test_it_answers_401_without_a_token_or_with_a_bad_one(self):
        for method, path in self.endpoints:
            for secret in ("", "om_pas-un-vrai-jeton"):
                with self.subTest(method=method, path=path, secret=secret):
                    self.assertProblem(self.call(method, path, ALIAS, secret=secret), 401)

    def test_it_answers_403_without_the_aliases_scope(self):
        secret = make_token("adresses", scopes=[READ, WRITE])
        for method, path in self.endpoints:
            with self.subTest(method=method, path=path):
                response = self.call(method, path, ALIAS, secret=secret)
                problem = self.assertProblem(response, 403, code="permission_denied")
                self.assertIn("« aliases:write »", problem["detail"])

    def test_it_answers_404_for_an_unknown_alias_and_for_a_mailbox(self):
        for source in (f"nobody@{DOMAIN}", ADDRESS, "pas-une-adresse"):
            with self.subTest(source=source):
                response = self.call("DELETE", f"{ALIAS_LIST}{source}/")
                problem = self.assertProblem(response, 404, code="not_found")
                self.assertEqual(problem["detail"], f"L'alias {source} n'existe pas.")

    def test_it_answers_405_to_a_wrong_method(self):
        for method, path, allowed in [
            ("PUT", ALIAS_LIST, "GET, POST"),
            ("GET", f"{ALIAS_LIST}{BUREAU}/", "DELETE"),
            ("PATCH", f"{ALIAS_LIST}{BUREAU}/", "DELETE"),
        ]:
            with self.subTest(method=method, path=path):
                response = self.call(method, path, ALIAS)
                self.assertProblem(response, 405, code="method_not_allowed")
                self.assertIn(allowed, response["Allow"])

    def test_it_answers_400_413_and_415_to_a_body_it_cannot_read(self):
        for options, status, code in [
            ({"raw": '{"source": "bureau@'}, 400, "parse_error"),
            ({"body": {**ALIAS, "destinations": ["x" * 200] * 400}}, 413, "payload_too_large"),
            ({"raw": "source=x", "content_type": "application/x-www-form-urlencoded"}, 415,
             "unsupported_media_type"),
        ]:  # fmt: skip
            with self.subTest(status=status):
                response = self.call("POST", ALIAS_LIST, options.pop("body", None), **options)
                self.assertProblem(response, status, code=code)
