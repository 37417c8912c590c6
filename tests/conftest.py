"""Shared fixtures: every test starts with an empty SMS outbox and a fresh broker."""

import pytest

from provisioning.sms import locmem


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    locmem.outbox.clear()
    locmem.redacted.clear()
    yield
    locmem.outbox.clear()
    locmem.redacted.clear()
