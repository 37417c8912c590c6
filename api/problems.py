"""Every error as `application/problem+json` (RFC 9457): a French `detail`, a `code`, and for
bad input an `errors` object, field by field, from the same validation as the admin."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler

from provisioning.exceptions import ProvisioningError

from .authentication import MISSING

PROBLEM_JSON = "application/problem+json"
NON_FIELD = "non_field_errors"
TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Introuvable",
    405: "Méthode non permise",
    406: "Format de réponse non disponible",
    409: "Conflit avec l'état de l'adresse",
    413: "Corps de requête trop grand",
    415: "Type de contenu non pris en charge",
    422: "Clé d'idempotence déjà utilisée",
    429: "Trop de requêtes",
    503: "Service momentanément indisponible",
}


class Conflict(exceptions.APIException):
    """A use case refused the act because of the mailbox's state (already disabled...)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "L'adresse n'est pas dans l'état voulu pour cette action."
    default_code = "conflict"


class Unavailable(exceptions.APIException):
    """The mail database (or another outside system) did not answer: try again later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Service momentanément indisponible : réessayez dans une minute."
    default_code = "unavailable"
    wait = 60  # Retry-After


class ProblemSerializer(serializers.Serializer):
    """The shape of every error answer (for the OpenAPI schema)."""

    type = serializers.CharField(default="about:blank")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    instance = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Bad input only: the messages of each field, in French.",
    )


def exception_handler(exc, context):
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500, reported as any other
    errors = _field_errors(exc) if isinstance(exc, exceptions.ValidationError) else None
    request = context.get("request")
    response.data = {
        "type": "about:blank",
        "title": TITLES.get(response.status_code, "Erreur"),
        "status": response.status_code,
        "detail": _detail(exc, errors, context),
        "code": _code(exc),
        "instance": request.path if request is not None else "",
        **({"errors": errors} if errors is not None else {}),
    }
    response.content_type = PROBLEM_JSON
    return response


def _as_api_exception(exc):
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({NON_FIELD: exc.messages})
    if isinstance(exc, ProvisioningError):
        return Unavailable(exc.message)
    return exc


def _field_errors(exc: exceptions.ValidationError) -> dict[str, list[str]]:
    detail = exc.detail if isinstance(exc.detail, dict) else {NON_FIELD: exc.detail}
    return {
        field: [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        for field, messages in detail.items()
    }


def _detail(exc, errors, context) -> str:
    if errors is not None:
        parts = [
            " ".join(messages) if field == NON_FIELD else f"{field} : {' '.join(messages)}"
            for field, messages in errors.items()
        ]
        return "Données refusées, rien n'a été enregistré. " + " ; ".join(parts)
    if isinstance(exc, exceptions.NotAuthenticated):
        return MISSING
    if isinstance(exc, exceptions.MethodNotAllowed):
        allowed = ", ".join(m for m in context["view"].allowed_methods if m != "OPTIONS")
        method = context["request"].method
        return f"La méthode {method} n'est pas permise ici (permises : {allowed})."
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return (
            f"Type de contenu « {context['request'].content_type} » non pris en charge : "
            "envoyez du JSON "
            "(Content-Type: application/json)."
        )
    if isinstance(exc, exceptions.NotAcceptable):
        return "Cette API ne répond qu'en JSON (Accept: application/json)."
    if isinstance(exc, exceptions.Throttled):
        return f"Trop de requêtes pour ce jeton : réessayez dans {exc.wait} s."
    return str(exc.detail)


def _code(exc) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    return getattr(exc, "default_code", "error")
