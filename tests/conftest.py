"""Shared fixtures: every test starts with an empty SMS outbox and a fresh broker."""

import pytest
from django.test import override_settings

from provisioning.sms import locmem

from .fakes.dns_server import FakeDnsServer


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    locmem.outbox.clear()
    locmem.redacted.clear()
    yield
    locmem.outbox.clear()
    locmem.redacted.clear()


@pytest.fixture(autouse=True, scope="session")
def _no_dns_outside_loopback():
    """No test asks a real resolver: an empty loopback zone answers NXDOMAIN at once.

    Tests of the DNS checks start their own server with their zones (tests/fakes/dns_server.py).
    """
    server = FakeDnsServer().start()
    with override_settings(DNS_NAMESERVERS=[server.nameserver], DNS_TIMEOUT=1, DNS_LIFETIME=2):
        yield
    server.stop()
