"""The admin of domains, members, mailboxes and aliases: one module per model (as modoboa
does); actions call services and report in French."""

from . import alias, domain, mailbox, member  # noqa: F401 - each registers its page
