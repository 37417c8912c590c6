"""URL map: the admin lives at /admin/."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import autoconfig
from octopus_mail.health import healthz
from provisioning.views import twilio_status

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("webhooks/twilio/status/", twilio_status, name="twilio-status"),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("api.urls")),  # REST API for scripts (api/), bearer tokens
    # Members' public request pages (memberrequests/views.py): no login, approved in the admin.
    path("demande/", include("memberrequests.urls")),
    # Client autoconfiguration: Thunderbird, Outlook, Apple (accounts/autoconfig.py).
    path(".well-known/autoconfig/mail/config-v1.1.xml", autoconfig.thunderbird),
    path("mail/config-v1.1.xml", autoconfig.thunderbird, name="autoconfig"),
    path("autodiscover/autodiscover.xml", autoconfig.autodiscover, name="autodiscover"),
    path("Autodiscover/Autodiscover.xml", autoconfig.autodiscover),
    path("mobileconfig/<str:token>/", autoconfig.mobileconfig, name="mobileconfig"),
]
