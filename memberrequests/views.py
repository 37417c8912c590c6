"""Public pages, without login: ask for an address, report a forgotten password, confirm.

Nothing here creates or resets anything: requests wait for the administrator's approval.
The forgotten-password page answers the same whether the address exists or not, and does
the same work: it records what was typed, and the worker looks it up. The address page
never looks up whether the address asked is taken.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from octopus_mail.security import client_ip
from provisioning import services as provisioning

from . import services, throttle
from .forms import AddressRequestForm, PasswordRequestForm

FORM_METHODS = require_http_methods(["GET", "POST"])


def _too_many(scope: str, key: str | None, limit) -> bool:
    return not throttle.throttle_allows(scope=scope, key=key or "", limit=limit)


def _posted(request):
    return request.POST if request.method == "POST" else None  # an empty POST is still a post


def _throttled(request):
    return render(request, "memberrequests/throttled.html", status=429)


@never_cache
@csrf_protect
@FORM_METHODS
def address_request(request):
    domain = provisioning.domain_get(name=settings.MAIL_DOMAIN)
    form = AddressRequestForm(_posted(request), domain=domain)
    if request.method == "POST":
        if _too_many("address-ip", client_ip(request), throttle.PER_IP):
            return _throttled(request)
        if form.is_valid():
            data = form.cleaned_data
            if _too_many("address-email", data["personal_email"], throttle.PER_ADDRESS):
                return _throttled(request)
            services.member_request_address_submit(
                full_name=data["full_name"],
                local_part=data["local_part"],
                domain=domain,
                personal_email=data["personal_email"],
                phone=data["phone"],
                message=data["message"],
            )
            context = {"personal_email": data["personal_email"], "hours": _hours()}
            return render(request, "memberrequests/address_sent.html", context)
    context = {"form": form, "domain": domain}
    return render(request, "memberrequests/address_form.html", context)


@never_cache
@csrf_protect
@FORM_METHODS
def password_request(request):
    form = PasswordRequestForm(_posted(request))
    if request.method == "POST":
        if _too_many("password-ip", client_ip(request), throttle.PER_IP):
            return _throttled(request)
        if form.is_valid():
            address = form.cleaned_data["address"]
            # Counted for every address typed, known or not: the limit tells nothing.
            if _too_many("password-address", address, throttle.PER_ADDRESS):
                return _throttled(request)
            services.member_request_password_submit(address=address)
            context = {"address": address, "hours": _hours()}
            return render(request, "memberrequests/password_sent.html", context)
    return render(request, "memberrequests/password_form.html", {"form": form})


@never_cache
@csrf_protect
@FORM_METHODS
def confirm(request, token: str):
    """GET shows a button, POST confirms: a mail scanner that follows links confirms nothing."""
    try:
        if request.method == "POST":
            member_request = services.member_request_confirm(token=token)
            template = "memberrequests/confirmed.html"
        else:
            member_request = services.member_request_from_token(token=token)
            template = "memberrequests/confirm.html"
    except ValidationError as exc:
        context = {"error": " ".join(exc.messages)}
        return render(request, "memberrequests/confirm_invalid.html", context, status=400)
    return render(request, template, {"member_request": member_request})


def _hours() -> int:
    return int(services.CONFIRMATION_MAX_AGE.total_seconds() // 3600)
