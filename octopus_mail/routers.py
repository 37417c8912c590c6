"""Keeps the app's tables out of the mail-server database, and the mail tables out of the app's."""

MAILSERVER = "mailserver"


class MailserverRouter:
    """Models live in `default`; only operations hinted `target_db="mailserver"` go there."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        target = hints.get("target_db")
        if target is not None:
            return db == target
        return db != MAILSERVER
