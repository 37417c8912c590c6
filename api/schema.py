"""drf-spectacular: the bearer token scheme of BearerTokenAuthentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py createapitoken` or the admin (« Jetons "
            "d'API »), with the scopes each operation names.",
        }
