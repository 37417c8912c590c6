"""exportmember ADDRESS"""

from provisioning import memberexport

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = (
        "Print, as JSON (UTF-8), everything held about the member of ADDRESS: what, since "
        "when and why it is kept."
    )

    def run(self, *, address, **options):
        document = memberexport.member_export(member=address, actor=self.actor)
        self.stdout.write(memberexport.member_json(document), ending="")
