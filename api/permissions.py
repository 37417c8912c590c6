"""One scope per method: each view says which (`required_scopes`); a method it does not
list goes on to the 405 it deserves."""

from rest_framework import permissions


class HasScope(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        token = request.auth
        if token is None:
            return False  # DRF answers 401: no token, or a refused one
        method = "GET" if request.method == "HEAD" else request.method  # HEAD answers as GET
        scope = getattr(view, "required_scopes", {}).get(method)
        if scope is None or token.has_scope(scope):
            return True
        self.message = (
            f"Ce jeton n'a pas le droit « {scope} » "
            f"(ses droits : {', '.join(token.scopes) or 'aucun'})."
        )
        return False
