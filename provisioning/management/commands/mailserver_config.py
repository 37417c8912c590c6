"""mailserver_config: the Dovecot and Postfix SQL settings for the configured table."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from provisioning import mailconfig


class Command(BaseCommand):
    help = (
        "Print the Dovecot dovecot-sql.conf.ext (with each user's quota_rule), the quota "
        "plugin's 90-quota.conf and dovecot-dict-sql.conf.ext (usage in quota2), and the "
        "Postfix pgsql:/mysql: map files that match MAILSERVER_SCHEMA, MAILSERVER_DATABASE_URL "
        "and MAILSERVER_PASSWORD_SCHEME; and the mail host's cron job that removes the maildirs "
        "of erased mailboxes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dovecot", choices=["2.3", "2.4"], default="2.3")
        parser.add_argument("--output-dir", help="write one file each instead of printing")
        parser.add_argument("--db-user", help="the read-only role Dovecot and Postfix use")
        parser.add_argument("--db-password", help="that role's password")
        parser.add_argument(
            "--dovecot-dir",
            default="/etc/dovecot",
            help="where dovecot-dict-sql.conf.ext will be, as 90-quota.conf names it",
        )
        parser.add_argument(
            "--mail-user", default="vmail", help="the user that owns the mailboxes (mail_uid)"
        )
        parser.add_argument(
            "--mail-root",
            default="/var/vmail",
            help="the folder holding DOMAIN/USER/ (Dovecot's mail_home /var/vmail/%%d/%%n)",
        )
        parser.add_argument(
            "--app-command",
            help="how the mail host runs this app's manage.py (default: this host's, as here)",
        )

    def handle(
        self, *, dovecot, output_dir, db_user, db_password, dovecot_dir, mail_user, **options
    ):
        try:
            db = mailconfig.mail_database(user=db_user, password=db_password)
        except mailconfig.UnsupportedDatabase as exc:
            raise CommandError(str(exc)) from None
        files = mailconfig.all_files(
            db,
            dovecot_version=dovecot,
            dovecot_dir=dovecot_dir,
            mail_user=mail_user,
            mail_root=options["mail_root"],
            app_command=options["app_command"],
        )
        if not output_dir:
            for name, text in files.items():
                self.stdout.write(f"# ===== {name} =====\n{text}")
            return
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = folder / name
            path.write_text(text, encoding="utf-8")
            os.chmod(path, 0o640)  # holds the database password
            self.stdout.write(f"{path}")
