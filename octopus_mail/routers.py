"""Keeps the app's tables in `default`, and the mail tables in the mail-server database."""


class MailserverRouter:
    """App models migrate only in `default`; operations hinted `target_db` only there."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        target = hints.get("target_db")
        if target is not None:
            return db == target
        return db == "default"
