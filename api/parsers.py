"""JSON bodies, refused beyond API_MAX_BODY bytes (413) before they are read whole."""

import json

from rest_framework import exceptions, parsers, status
from rest_framework.utils.json import strict_constant

API_MAX_BODY = 64 * 1024  # a mailbox's fields take a few hundred bytes


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"Corps de requête trop grand : {API_MAX_BODY // 1024} Kio au plus."
    default_code = "payload_too_large"


class LimitedJSONParser(parsers.JSONParser):
    """DRF reads the stream itself: Django's DATA_UPLOAD_MAX_MEMORY_SIZE never applies."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        if declared > API_MAX_BODY:
            raise PayloadTooLarge()
        body = stream.read(API_MAX_BODY + 1)
        if len(body) > API_MAX_BODY:  # a chunked body declares no length
            raise PayloadTooLarge()
        try:
            return json.loads(body.decode("utf-8"), parse_constant=strict_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError("Le corps n'est pas du texte UTF-8.") from None
        except json.JSONDecodeError as exc:
            raise exceptions.ParseError(
                f"Le corps n'est pas du JSON valide (ligne {exc.lineno}, colonne {exc.colno})."
            ) from None
        except ValueError:  # NaN, Infinity
            raise exceptions.ParseError("Le corps n'est pas du JSON valide.") from None
