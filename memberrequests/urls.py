"""Public pages, under /demande/."""

from django.urls import path

from . import views

app_name = "memberrequests"
urlpatterns = [
    path("adresse/", views.address_request, name="address"),
    path("mot-de-passe/", views.password_request, name="password"),
    path("confirmer/<str:token>/", views.confirm, name="confirm"),
]
