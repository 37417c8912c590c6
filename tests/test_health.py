"""/healthz answers for the app database, the mail-server database and the broker."""

from django.test import TestCase, override_settings

from octopus_mail.celery import app as celery_app

from .provisioning.doubles import mailserver_refusing_connections
from .services import REDIS_URL, require_redis


class HealthTests(TestCase):
    databases = {"default", "mailserver"}

    def test_it_is_ok_when_everything_answers(self):
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.json(),
            {"status": "ok", "database": "ok", "mailserver_database": "ok", "broker": "ok"},
        )

    def test_it_says_which_part_fails_without_its_address(self):
        with mailserver_refusing_connections():
            response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 503)
        body = response.json()
        self.assertEqual(body["status"], "error")
        self.assertTrue(body["mailserver_database"].startswith("error: "))
        self.assertNotIn("127.0.0.1", response.content.decode())

    def test_it_reaches_a_real_redis_broker(self):
        require_redis()
        with override_settings(CELERY_BROKER_URL=REDIS_URL):
            celery_app.conf.broker_url = REDIS_URL
            try:
                response = self.client.get("/healthz")
            finally:
                celery_app.conf.broker_url = "memory://"
        self.assertEqual(response.json()["broker"], "ok")

    def test_it_reports_a_broker_that_does_not_answer(self):
        url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
        with override_settings(CELERY_BROKER_URL=url):
            celery_app.conf.broker_url = url
            try:
                response = self.client.get("/healthz")
            finally:
                celery_app.conf.broker_url = "memory://"
        self.assertEqual(response.status_code, 503)
        self.assertTrue(response.json()["broker"].startswith("error: "))
        self.assertNotIn("redis://", response.content.decode())

    def test_it_refuses_post(self):
        self.assertEqual(self.client.post("/healthz").status_code, 405)
