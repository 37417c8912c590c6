"""The OpenAPI 3.1 schema served at /api/v1/schema/ is valid, names every endpoint, and
every answer the live API gives (successes and problems) matches what it documents."""

import re

import jsonschema
from django.test import override_settings
from drf_spectacular.validation import validate_schema

from ..base import DOMAIN, create_pierre, deliver
from .helpers import ADDRESS, BODY, PROBLEM_JSON, READ, WRITE, ApiTestCase, make_token
from .test_throttling import THREE_A_MINUTE

OPENAPI_JSON = "application/vnd.oai.openapi+json"


class SchemaTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.secret = make_token("tous les droits", scopes=[READ, WRITE, "aliases:write"])
        response = self.client.get("/api/v1/schema/", headers={"Accept": OPENAPI_JSON})
        self.assertEqual(response.status_code, 200, response.content[:2000])
        self.schema = response.json()

    def test_it_serves_a_valid_openapi_document(self):
        validate_schema(self.schema)  # raises on any error
        self.assertEqual(self.schema["openapi"], "3.1.0")
        self.assertEqual(
            sorted(self.schema["paths"]),
            [
                "/api/v1/aliases/",
                "/api/v1/aliases/{source}/",
                "/api/v1/jobs/{id}/",
                "/api/v1/mailboxes/",
                "/api/v1/mailboxes/{address}/",
                "/api/v1/mailboxes/{address}/disable/",
                "/api/v1/mailboxes/{address}/enable/",
                "/api/v1/mailboxes/{address}/reset-password/",
            ],
        )
        scheme = self.schema["components"]["securitySchemes"]["bearerAuth"]
        self.assertEqual((scheme["type"], scheme["scheme"]), ("http", "bearer"))

    def test_it_documents_the_idempotency_key_on_every_post(self):
        for path, operations in self.schema["paths"].items():
            if "post" in operations:
                names = [p["name"] for p in operations["post"].get("parameters", [])]
                self.assertIn("Idempotency-Key", names, path)

    def test_it_gives_every_live_answer_the_documented_shape(self):
        job = deliver(create_pierre())
        mailbox = f"/api/v1/mailboxes/{ADDRESS}/"
        aliases, bureau, info = "/api/v1/aliases/", f"bureau@{DOMAIN}", f"info@{DOMAIN}"
        calls = [
            ("GET", "/api/v1/mailboxes/", None, {}),
            ("GET", mailbox, None, {}),
            ("GET", f"/api/v1/jobs/{job.pk}/", None, {}),
            (
                "POST",
                aliases,
                {"source": bureau, "destinations": [ADDRESS, "x@example.org"]},
                {"Idempotency-Key": "k0"},
            ),  # 201
            ("POST", aliases, {"source": bureau, "destinations": [ADDRESS]}, {}),  # 200
            ("POST", aliases, {"source": "x", "destinations": []}, {}),  # 400
            ("POST", aliases, {"source": info, "destinations": [bureau]}, {}),
            ("GET", aliases, None, {}),
            ("DELETE", f"{aliases}{bureau}/", None, {}),  # 409
            ("DELETE", f"{aliases}{info}/", None, {}),
            ("DELETE", f"{aliases}{info}/", None, {}),  # 404
            ("POST", "/api/v1/mailboxes/", {**BODY, "local_part": "marie"}, {}),
            ("POST", "/api/v1/mailboxes/", BODY, {}),  # 400, taken
            ("POST", "/api/v1/mailboxes/", None, {"raw": "{"}),  # 400, malformed
            ("POST", "/api/v1/mailboxes/", {"full_name": "x" * 70000}, {}),  # 413
            ("POST", "/api/v1/mailboxes/", None, {"raw": "a=b", "content_type": "text/plain"}),
            ("POST", f"{mailbox}reset-password/", None, {}),
            ("POST", f"{mailbox}disable/", None, {"Idempotency-Key": "k1"}),
            ("POST", f"{mailbox}enable/", None, {"Idempotency-Key": "k1"}),  # 422
            ("POST", f"{mailbox}enable/", None, {}),
            ("POST", f"{mailbox}enable/", None, {}),  # 409
            ("DELETE", mailbox, None, {}),  # 200, deleted
            ("DELETE", mailbox, None, {}),  # 409, already deleted
            ("GET", "/api/v1/mailboxes/nobody@octopus-soignies.be/", None, {}),  # 404
            ("GET", "/api/v1/mailboxes/", None, {"secret": ""}),  # 401
            ("POST", "/api/v1/mailboxes/", BODY, {"secret": make_token("r", scopes=[READ])}),
            ("GET", aliases, None, {"secret": make_token("w", scopes=[WRITE])}),  # 403
        ]
        seen = set()
        for method, path, body, options in calls:
            with self.subTest(method=method, path=path, options=options):
                response = self.call(method, path, body, **options)
                self.assertDocumented(method, path, response)
                seen.add(response.status_code)
        with override_settings(REST_FRAMEWORK=THREE_A_MINUTE):
            for _ in range(4):
                response = self.call("GET", f"/api/v1/jobs/{job.pk}/")
            self.assertDocumented("GET", f"/api/v1/jobs/{job.pk}/", response)
            seen.add(response.status_code)
        self.assertEqual(seen, {200, 201, 202, 400, 401, 403, 404, 409, 413, 415, 422, 429})

    def assertDocumented(self, method: str, path: str, response) -> None:
        operation = self.operation(method, path)
        documented = operation["responses"].get(str(response.status_code))
        self.assertIsNotNone(documented, f"{method} {path}: {response.status_code} undocumented")
        content_type = response["Content-Type"].split(";")[0]
        self.assertIn(content_type, documented["content"])
        if content_type == PROBLEM_JSON:
            self.assertEqual(response.status_code >= 400, True)
        schema = {**documented["content"][content_type]["schema"],
                  "components": self.schema["components"]}  # fmt: skip
        jsonschema.validate(
            response.json(), schema, cls=jsonschema.Draft202012Validator,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )  # fmt: skip

    def operation(self, method: str, path: str) -> dict:
        for template, operations in self.schema["paths"].items():
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path) and method.lower() in operations:
                return operations[method.lower()]
        self.fail(f"{method} {path} is not in the schema")


class DocsPageTests(ApiTestCase):
    def test_it_serves_the_docs_with_local_files_only(self):
        response = self.client.get("/api/v1/docs/")
        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        self.assertIn("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", html)
        self.assertNotIn("cdn.", html)
        script = self.client.get("/api/v1/docs/?script=")
        self.assertEqual(script["Content-Type"], "application/javascript")
        self.assertIn("/api/v1/schema/", script.content.decode())
