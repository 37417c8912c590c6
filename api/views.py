"""The endpoints: each parses, calls the use case the admin calls (with the token as actor),
and reports. Reads go through api/selectors.py; errors are problems (api/problems.py)."""

import dataclasses

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import translation
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Domain
from accounts.services import suggest_local_part
from audit.services import Actor
from octopus_mail.security import client_ip
from provisioning import deletion, services
from roles import access

from . import calls, idempotency, selectors
from .models import Scope
from .problems import PROBLEM_JSON, Conflict, ProblemSerializer
from .serializers import (
    JobSerializer,
    MailboxCreatedSerializer,
    MailboxCreateSerializer,
    MailboxDeletedSerializer,
    MailboxDeleteSerializer,
    MailboxFilterSerializer,
    MailboxPageSerializer,
    MailboxSerializer,
    MailboxStateSerializer,
    PasswordResetSerializer,
    absolute,
)

READ, WRITE = Scope.MAILBOXES_READ.value, Scope.MAILBOXES_WRITE.value
ADDRESS = OpenApiParameter("address", str, OpenApiParameter.PATH, description="pierre@domaine")


def problems(*codes: int) -> dict:
    return {(code, PROBLEM_JSON): ProblemSerializer for code in (401, 403, 429, *codes)}


class ApiView(APIView):
    """French answers whatever the client's language; one audit record per call."""

    required_scopes: dict[str, str] = {}
    audit_target = ""

    def dispatch(self, request, *args, **kwargs):
        with translation.override("fr"):
            response = super().dispatch(request, *args, **kwargs)
        response["Content-Language"] = "fr"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        calls.record(request, response, target=self.audit_target)
        return response

    @property
    def token(self):
        return self.request.auth

    def act(self, use_case, **arguments):
        """Call a use case: it records the act itself, refusals included (invariant 8)."""
        calls.mark_recorded(self.request)
        actor = Actor(label=self.token.actor_label, ip=client_ip(self.request))
        try:
            return use_case(actor=actor, **arguments)
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):
                raise  # bad input: 400, field by field
            raise Conflict(" ".join(exc.messages)) from None

    def visible_mailbox(self, address: str):
        self.audit_target = address.strip().lower()[:254]
        mailbox = selectors.mailbox_for(self.token, address)
        if mailbox is None:
            raise exceptions.NotFound(f"L'adresse {self.audit_target} n'existe pas.")
        return mailbox


class MailboxPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class MailboxListView(ApiView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="mailboxes_list",
        parameters=[MailboxFilterSerializer],
        responses={200: MailboxPageSerializer, **problems(400, 404)},
        description="The mailboxes this token reaches, 100 a page (`page`, `page_size` up "
        "to 500), each with its last delivery.",
    )
    def get(self, request):
        filters = MailboxFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        mailboxes = selectors.mailboxes_for(self.token, **filters.validated_data)
        paginator = MailboxPagination()
        page = paginator.paginate_queryset(mailboxes, request, view=self)
        data = MailboxSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="mailboxes_create",
        request=MailboxCreateSerializer,
        parameters=[idempotency.PARAMETER],
        responses={202: MailboxCreatedSerializer, **problems(400, 413, 415, 422)},
        description="Writes the member, the mailbox and its delivery job, as the admin does; "
        "the worker makes the password, writes its hash, sends the SMS. `Location` and "
        "`job.url` lead to the job.",
    )
    def post(self, request):
        serializer = MailboxCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self.audit_target = f"{data.get('local_part', '')}@{data['domain']}"
        return idempotency.run_once(request, self.token, lambda: self.create(data))

    def create(self, data) -> Response:
        outcome = self.act(
            services.mailbox_create,
            local_part=data.get("local_part") or suggest_local_part(data["full_name"]),
            domain=self.domain(data["domain"]),
            full_name=data["full_name"],
            personal_email=data["personal_email"],
            phone=data["phone"],
            allow_reserved=data["allow_reserved"],
        )
        body = MailboxCreatedSerializer(outcome, context={"request": self.request}).data
        location = absolute(self.request, "job-detail", outcome.job.pk)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    def domain(self, name: str) -> Domain:
        """The domain named, if this token reaches it; the same refusal when it does not
        exist, so a token limited to some domains learns nothing of the others."""
        if not self.token.domains_limited:
            try:
                return services.domain_get(name=name)
            except DjangoValidationError as exc:
                raise exceptions.ValidationError({"domain": exc.messages}) from None
        allowed = self.token.domain_ids()
        domain = Domain.objects.filter(pk__in=allowed, name=name.strip().lower()).first()
        if domain is None:
            names = ", ".join(sorted(d.name for d in self.token.domains.all())) or "aucun"
            raise exceptions.ValidationError(
                {"domain": [f"Le domaine « {name} » n'est pas accessible à ce jeton ({names})."]}
            )
        return domain


class MailboxDetailView(ApiView):
    required_scopes = {"GET": READ, "DELETE": WRITE}

    @extend_schema(
        operation_id="mailboxes_retrieve",
        parameters=[ADDRESS],
        responses={200: MailboxSerializer, **problems(404)},
        description="One mailbox, its member and its last delivery; 404 for an address "
        "outside the token's domains, as for an unknown one.",
    )
    def get(self, request, address: str):
        mailbox = self.visible_mailbox(address)
        return Response(MailboxSerializer(mailbox, context={"request": request}).data)

    @extend_schema(
        operation_id="mailboxes_destroy",
        parameters=[ADDRESS, MailboxDeleteSerializer],
        responses={200: MailboxDeletedSerializer, **problems(400, 404, 409, 503)},
        description="As the admin deletes: IMAP and SMTP logins refused at once, deliveries "
        "stopped, the address never given again; the member's data erased after "
        "MEMBER_RETENTION_DAYS, or at once with `erase=now` (it cannot be undone). A deleted "
        "mailbox answers 409, or is erased with `erase=now`.",
    )
    def delete(self, request, address: str):
        options = MailboxDeleteSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        mailbox = self.visible_mailbox(address)
        erase_now = options.validated_data["erase"] == "now"
        outcome = self.act(deletion.mailbox_delete, mailbox=mailbox, erase_now=erase_now)
        # Only the aliases of the token's domains are named, as the admin names a
        # gestionnaire's: another domain's alias is not theirs to learn of.
        names = selectors.domain_names(self.token) if self.token.domains_limited else None
        reaching = tuple(a for a in outcome.reaching if access.shows_address(names, a))
        outcome = dataclasses.replace(outcome, reaching=reaching)
        return Response(MailboxDeletedSerializer(outcome, context={"request": request}).data)


class MailboxActionView(ApiView):
    """POST …/{address}/<action>/: no body; `Idempotency-Key` accepted."""

    required_scopes = {"POST": WRITE}

    def post(self, request, address: str):
        mailbox = self.visible_mailbox(address)
        return idempotency.run_once(request, self.token, lambda: self.perform(mailbox))

    def perform(self, mailbox) -> Response:
        raise NotImplementedError


ACTION_PROBLEMS = problems(404, 409, 422, 503)


@extend_schema_view(
    post=extend_schema(
        operation_id="mailboxes_reset_password",
        request=None,
        parameters=[ADDRESS, idempotency.PARAMETER],
        responses={202: PasswordResetSerializer, **ACTION_PROBLEMS},
        description="A new password by SMS; joins the delivery already on its way, if any.",
    )
)
class MailboxResetPasswordView(MailboxActionView):
    def perform(self, mailbox) -> Response:
        outcome = self.act(services.mailbox_password_reset, mailbox=mailbox)
        body = PasswordResetSerializer(outcome, context={"request": self.request}).data
        location = absolute(self.request, "job-detail", outcome.job.pk)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


@extend_schema_view(
    post=extend_schema(
        operation_id="mailboxes_disable",
        request=None,
        parameters=[ADDRESS, idempotency.PARAMETER],
        responses={200: MailboxStateSerializer, **ACTION_PROBLEMS},
        description="IMAP and SMTP logins refused at once.",
    )
)
class MailboxDisableView(MailboxActionView):
    def perform(self, mailbox) -> Response:
        mailbox = self.act(services.mailbox_disable, mailbox=mailbox)
        return Response(MailboxStateSerializer(mailbox, context={"request": self.request}).data)


@extend_schema_view(
    post=extend_schema(
        operation_id="mailboxes_enable",
        request=None,
        parameters=[ADDRESS, idempotency.PARAMETER],
        responses={200: MailboxStateSerializer, **ACTION_PROBLEMS},
        description="Logins accepted again (a mailbox still waiting for its first password "
        "goes back to pending).",
    )
)
class MailboxEnableView(MailboxActionView):
    def perform(self, mailbox) -> Response:
        mailbox = self.act(services.mailbox_enable, mailbox=mailbox)
        return Response(MailboxStateSerializer(mailbox, context={"request": self.request}).data)


class JobDetailView(ApiView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="jobs_retrieve",
        responses={200: JobSerializer, **problems(404)},
        description="A delivery, followed to the SMS status (`settled` once nothing more "
        "will change) and the confirmation email.",
    )
    def get(self, request, pk: int):
        self.audit_target = f"envoi n°{pk}"
        job = selectors.job_for(self.token, pk)
        if job is None:
            raise exceptions.NotFound(f"L'envoi n°{pk} n'existe pas.")
        return Response(JobSerializer(job, context={"request": request}).data)


class UnknownPathView(ApiView):
    """Anything else under /api/v1/: a problem, not Django's HTML page."""

    schema = None
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound(
            f"Rien à l'adresse {request.path} : voir /api/v1/docs/ (les chemins finissent par /)."
        )
