"""URL map: the admin lives at /admin/."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from provisioning.views import twilio_status

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("webhooks/twilio/status/", twilio_status, name="twilio-status"),
]
