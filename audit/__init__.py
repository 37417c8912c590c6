"""The audit trail: who did what to which mailbox or account, from where, and how it ended."""
