"""/api/v1/aliases/: list, create or replace, delete; through provisioning.aliases, the use
cases the admin and createalias/deletealias call (their checks, their audit records).

Reading needs `aliases:write` too: the list names members' addresses and outside ones, and
a script that manages aliases must see them; `mailboxes:read` alone shows no alias.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from provisioning import aliases
from provisioning import selectors as provisioning_selectors

from . import idempotency, selectors
from .aliasserializers import (
    AliasFilterSerializer,
    AliasPageSerializer,
    AliasSavedSerializer,
    AliasSaveSerializer,
    AliasSerializer,
    AliasStateSerializer,
)
from .models import Scope
from .problems import Conflict
from .views import ApiView, MailboxPagination, problems

ALIASES = Scope.ALIASES_WRITE.value
SOURCE = OpenApiParameter("source", str, OpenApiParameter.PATH, description="bureau@domaine")


class AliasListView(ApiView):
    required_scopes = {"GET": ALIASES, "POST": ALIASES}

    @extend_schema(
        operation_id="aliases_list",
        parameters=[AliasFilterSerializer],
        responses={200: AliasPageSerializer, **problems(400)},
        description="The aliases this token reaches, with their destinations, 100 a page "
        "(`page`, `page_size` up to 500). Needs `aliases:write`.",
    )
    def get(self, request):
        filters = AliasFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        found = selectors.aliases_for(self.token, **filters.validated_data)
        paginator = MailboxPagination()
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(AliasSerializer(page, many=True).data)

    @extend_schema(
        operation_id="aliases_create",
        request=AliasSaveSerializer,
        parameters=[idempotency.PARAMETER],
        responses={
            201: AliasSavedSerializer,
            200: AliasSavedSerializer,
            **problems(400, 413, 415, 422, 503),
        },
        description="Creates the alias (201), or replaces an existing one's destinations "
        "(200), as createalias does; the worker then writes the mail table (`synced`).",
    )
    def post(self, request):
        serializer = AliasSaveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self.audit_target = data["source"].strip().lower()[:254]
        self.check_reach(data)
        return idempotency.run_once(request, self.token, lambda: self.save(data))

    def check_reach(self, data) -> None:
        """A limited token names no address of a domain it does not reach: refused as the
        admin refuses a gestionnaire, before the use case says whether it exists."""
        errors = {}
        _local, at, domain = data["source"].strip().lower().rpartition("@")
        if at and self.token.domains_limited and domain not in selectors.domain_names(self.token):
            # The same answer for a domain not hosted here: the token learns nothing of them.
            names = ", ".join(sorted(selectors.domain_names(self.token))) or "aucun"
            errors["source"] = [
                f"Le domaine « {domain} » n'est pas accessible à ce jeton ({names})."
            ]
        foreign = selectors.out_of_reach(self.token, data["destinations"])
        if foreign:
            errors["destinations"] = [f"{', '.join(foreign)} : pas dans les domaines de ce jeton."]
        if errors:
            raise exceptions.ValidationError(errors)

    def save(self, data) -> Response:
        outcome = self.act(
            aliases.alias_save,
            source=data["source"],
            destinations=data["destinations"],
            active=data["active"],
        )
        body = AliasSavedSerializer(outcome).data
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else 200)


class AliasDetailView(ApiView):
    required_scopes = {"DELETE": ALIASES}

    @extend_schema(
        operation_id="aliases_destroy",
        parameters=[SOURCE],
        responses={200: AliasStateSerializer, **problems(404, 409, 503)},
        description="Deletes the alias, as deletealias does: its mail is refused once the "
        "worker removed its rows (`synced`). 409 while another alias sends to it; 404 for an "
        "alias outside the token's domains, as for an unknown one.",
    )
    def delete(self, request, source: str):
        self.audit_target = source.strip().lower()[:254]
        alias = selectors.alias_for(self.token, source)
        if alias is None:
            raise exceptions.NotFound(f"L'alias {self.audit_target} n'existe pas.")
        try:
            alias = self.act(aliases.alias_delete, alias=alias)
        except Conflict:
            if not self.token.domains_limited:
                raise
            raise Conflict(self.still_reached(alias)) from None
        return Response(AliasStateSerializer(alias).data)

    def still_reached(self, alias) -> str:
        """The use case's refusal, naming only the aliases of the token's domains."""
        names = frozenset(selectors.domain_names(self.token))
        reaching = provisioning_selectors.aliases_reaching(alias.address, domains=names)
        listed = ", ".join(other.address for other, _via in reaching)
        if not listed:
            return (
                f"{alias.address} est une destination d'un alias d'un autre domaine : un "
                "administrateur doit l'en retirer d'abord."
            )
        return (
            f"{alias.address} est une destination de {listed} : retirez-la de ces alias "
            "d'abord, sinon leur courrier reviendrait en erreur."
        )
