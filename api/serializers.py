"""What the API reads (types only: the use cases validate the values, as in the admin) and
what it answers. Answers to a write hold an address, a status and a job, never personal
data: a token allowed to write only reads nothing more, and kept answers hold none."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Mailbox
from provisioning import selectors as provisioning_selectors
from provisioning.models import EmailStatus, JobState, ProvisioningJob
from provisioning.sms.twilio import explain

NO_PASSWORD = (
    "Champ refusé : le mot de passe est généré par le serveur et envoyé par SMS au membre ; "
    "personne ne le choisit."
)


def absolute(request, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(f"api:{name}", args=args))


# --- input ---------------------------------------------------------------------------------


class MailboxCreateSerializer(serializers.Serializer):
    local_part = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text="The part before the @; omitted: made from the full name, as the admin does.",
    )
    domain = serializers.CharField(
        required=False, max_length=253, help_text=f"Default: {settings.MAIL_DOMAIN}."
    )
    full_name = serializers.CharField(allow_blank=True, max_length=254, trim_whitespace=False)
    personal_email = serializers.CharField(allow_blank=True, max_length=254)
    phone = serializers.CharField(
        allow_blank=True, max_length=64, help_text="A mobile number: +32 470 12 34 56."
    )
    allow_reserved = serializers.BooleanField(
        default=False, help_text="Create a role address (postmaster@, abuse@...) on purpose."
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [NO_PASSWORD if "pass" in name.lower() else "Champ inconnu."]
                    for name in unknown
                }
            )
        attrs.setdefault("domain", settings.MAIL_DOMAIN)
        return attrs


class MailboxFilterSerializer(serializers.Serializer):
    domain = serializers.CharField(required=False, max_length=253)
    status = serializers.ChoiceField(choices=Mailbox.Status.choices, required=False)


class MailboxDeleteSerializer(serializers.Serializer):
    erase = serializers.ChoiceField(
        choices=["later", "now"],
        default="later",
        help_text="`later`: the member's data is erased after MEMBER_RETENTION_DAYS; `now`: at "
        "once, for good (as the admin's « effacer maintenant »).",
    )


# --- answers -------------------------------------------------------------------------------


class JobLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    url = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=ProvisioningJob.Kind.choices)
    state = serializers.ChoiceField(choices=JobState.choices)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job) -> str:
        return absolute(self.context["request"], "job-detail", job.pk)


class MailboxStateSerializer(serializers.Serializer):
    address = serializers.CharField()
    url = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Mailbox.Status.choices)
    status_label = serializers.CharField(source="get_status_display")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, mailbox) -> str:
        return absolute(self.context["request"], "mailbox-detail", mailbox.address)


class MailboxCreatedSerializer(serializers.Serializer):
    """202: the mailbox is written, its job queued; follow `job.url` to the SMS."""

    mailbox = MailboxStateSerializer()
    job = JobLinkSerializer()
    warning = serializers.CharField(allow_null=True)


class PasswordResetSerializer(serializers.Serializer):
    mailbox = MailboxStateSerializer(source="job.mailbox")
    job = JobLinkSerializer()
    merged = serializers.BooleanField(help_text="A delivery was already on its way: joined.")


class MailboxDeletedSerializer(serializers.Serializer):
    """200: logins refused, deliveries stopped; the data's erasure, done or planned."""

    mailbox = MailboxStateSerializer()
    erased = serializers.SerializerMethodField()
    erase_after = serializers.DateTimeField(allow_null=True)
    aliases_reaching = serializers.ListField(
        child=serializers.CharField(),
        source="reaching",
        help_text="Aliases whose mail reached it: their mail to it now bounces.",
    )
    warning = serializers.CharField(
        source="erase_error", allow_null=True, help_text="Deleted, but not erased yet: why."
    )

    def get_erased(self, outcome) -> bool:
        return outcome.erased is not None


class LastJobSerializer(serializers.Serializer):
    """A mailbox's latest delivery, its `last_job` read with the list (no query per row)."""

    id = serializers.IntegerField(source="pk")
    url = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=ProvisioningJob.Kind.choices)
    state = serializers.ChoiceField(choices=JobState.choices)
    sms_status = serializers.CharField()
    summary = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job) -> str:
        return absolute(self.context["request"], "job-detail", job.pk)

    def get_summary(self, job) -> str:
        return provisioning_selectors.job_summary(job)[1]


class MailboxSerializer(MailboxStateSerializer):
    """A mailbox as `mailboxes:read` sees it: its member's name and contacts too."""

    local_part = serializers.CharField()
    domain = serializers.CharField(source="domain.name")
    full_name = serializers.CharField(source="member.full_name")
    personal_email = serializers.CharField(source="member.personal_email")
    phone_masked = serializers.CharField(source="member.masked_phone")
    created_at = serializers.DateTimeField()
    last_job = serializers.SerializerMethodField()

    @extend_schema_field(LastJobSerializer(allow_null=True))
    def get_last_job(self, mailbox):
        if mailbox.last_job is None:
            return None
        return LastJobSerializer(mailbox.last_job, context=self.context).data


class MailboxPageSerializer(serializers.Serializer):
    """One page of the list (for the schema: PageNumberPagination's shape)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MailboxSerializer(many=True)


class JobSerializer(JobLinkSerializer):
    """One password delivery, followed to the SMS status and the confirmation email."""

    state_label = serializers.CharField(source="get_state_display")
    mailbox = serializers.CharField(source="mailbox.address")
    mailbox_url = serializers.SerializerMethodField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    sms_status = serializers.CharField()
    sms_status_label = serializers.CharField()
    sms_sent_at = serializers.DateTimeField(allow_null=True)
    sms_status_at = serializers.DateTimeField(allow_null=True)
    sms_error_code = serializers.IntegerField(allow_null=True)
    sms_error = serializers.SerializerMethodField()
    email_status = serializers.ChoiceField(choices=EmailStatus.choices)
    email_sent_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    tone = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    settled = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_mailbox_url(self, job) -> str:
        return absolute(self.context["request"], "mailbox-detail", job.mailbox.address)

    def get_sms_error(self, job) -> str | None:
        return explain(job.sms_error_code) if job.sms_error_code else None

    @extend_schema_field(serializers.ChoiceField(choices=["ok", "waiting", "error"]))
    def get_tone(self, job) -> str:
        return provisioning_selectors.job_summary(job)[0]

    def get_summary(self, job) -> str:
        return provisioning_selectors.job_summary(job)[1]

    def get_settled(self, job) -> bool:
        """True once nothing more will change: failed, or the SMS's final status is known."""
        return provisioning_selectors.job_summary(job)[2]
