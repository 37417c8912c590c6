"""Personas and small helpers shared by the tests."""

import re

from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Domain
from audit.services import Actor
from provisioning import services, tasks
from provisioning.models import ProvisioningJob
from provisioning.sms import locmem

DOMAIN = "octopus-soignies.be"
ADMIN_PASSWORD = "Claire-admin-2026!"  # noqa: S105 - a test persona's login
# The member every test talks about.
MEMBER = {
    "local_part": "pierre",
    "full_name": "Pierre Dupont",
    "personal_email": "pierre@example.org",
    "phone": "+32470123456",
}
# Who acts when a test calls a use case directly.
TEST_ACTOR = Actor(label="tests")
PASSWORD_IN_SMS = re.compile(r"\b([a-z2-9]{5}(?:-[a-z2-9]{5}){3})\b")


def the_domain() -> Domain:
    """The association's domain; TransactionTestCase flushes the data migration's row."""
    domain, _ = Domain.objects.get_or_create(
        name=DOMAIN,
        defaults={
            "imap_host": DOMAIN,
            "smtp_host": DOMAIN,
            "webmail_url": "https://mail.octopus-soignies.be/",
            "cloud_url": "https://cloud.octopus-soignies.be",
        },
    )
    return domain


def make_verified_admin(username: str = "claire"):
    """A superuser with a TOTP device and static backup tokens (returned)."""
    user = get_user_model().objects.create_superuser(
        username, f"{username}@octopus-soignies.be", ADMIN_PASSWORD
    )
    TOTPDevice.objects.create(user=user, name="téléphone", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="secours", confirmed=True)
    tokens = [f"tok{n:05d}" for n in range(1, 6)]
    for token in tokens:
        StaticToken.objects.create(device=static, token=token)
    return user, static, tokens


def make_staff_without_device(username: str = "marc"):
    return get_user_model().objects.create_user(
        username,
        f"{username}@octopus-soignies.be",
        ADMIN_PASSWORD,
        is_staff=True,
        is_superuser=True,
    )


def totp_token(device: TOTPDevice) -> str:
    """The code the member's authenticator app shows now for this device."""
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def login_with_otp(client, user, device, token) -> None:
    response = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": ADMIN_PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": token,
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def create_pierre(**overrides) -> ProvisioningJob:
    return create_pierre_outcome(**overrides).job


def create_pierre_outcome(**overrides) -> services.CreateOutcome:
    fields = {**MEMBER, "actor": TEST_ACTOR, **overrides}
    return services.mailbox_create(domain=the_domain(), **fields)


def retry_is_due(job: ProvisioningJob) -> None:
    """Move a job waiting out a retry's backoff to the moment its retry message arrives."""
    ProvisioningJob.objects.filter(pk=job.pk, next_attempt_at__gt=timezone.now()).update(
        next_attempt_at=timezone.now()
    )


def deliver(job: ProvisioningJob) -> ProvisioningJob:
    """Run the worker's password step by hand (the task object, called directly), as the
    retry message would at its time when the last attempt failed."""
    retry_is_due(job)
    tasks.deliver_password(job.pk)
    job.refresh_from_db()
    return job


def send_email(job: ProvisioningJob) -> ProvisioningJob:
    retry_is_due(job)
    tasks.send_job_email(job.pk)
    job.refresh_from_db()
    return job


def sms_passwords() -> list[str]:
    """The passwords found in the SMS outbox, oldest first."""
    found = []
    for message in locmem.outbox:
        match = PASSWORD_IN_SMS.search(message["body"])
        assert match, f"no password in SMS {message['body']!r}"
        found.append(match.group(1))
    return found


class OctopusTestCase(TestCase):
    databases = {"default", "mailserver"}

    def setUp(self) -> None:
        super().setUp()
        self.domain = the_domain()
