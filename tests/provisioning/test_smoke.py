"""A first run of the whole job on the test databases."""

from provisioning import mailserver, passwords

from ..base import OctopusTestCase, create_pierre, deliver, send_email, sms_passwords


class SmokeTests(OctopusTestCase):
    def test_it_delivers_a_password_that_verifies(self):
        job = deliver(create_pierre())
        self.assertEqual(job.state, "done")
        [password] = sms_passwords()
        row = mailserver.user_row("pierre@octopus-soignies.be")
        self.assertTrue(passwords.verify(password, row["password"]))
        job = send_email(job)
        self.assertEqual(job.email_status, "sent")
