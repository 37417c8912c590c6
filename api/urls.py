"""/api/v1/: mailboxes, their actions, jobs, aliases; the OpenAPI schema and its docs."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import aliasviews, views

app_name = "api"
mailbox = "mailboxes/<str:address>/"

urlpatterns = [
    path("mailboxes/", views.MailboxListView.as_view(), name="mailbox-list"),
    path(mailbox, views.MailboxDetailView.as_view(), name="mailbox-detail"),
    path(f"{mailbox}reset-password/", views.MailboxResetPasswordView.as_view(),
         name="mailbox-reset-password"),
    path(f"{mailbox}disable/", views.MailboxDisableView.as_view(), name="mailbox-disable"),
    path(f"{mailbox}enable/", views.MailboxEnableView.as_view(), name="mailbox-enable"),
    path("jobs/<int:pk>/", views.JobDetailView.as_view(), name="job-detail"),
    path("aliases/", aliasviews.AliasListView.as_view(), name="alias-list"),
    path("aliases/<str:source>/", aliasviews.AliasDetailView.as_view(), name="alias-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"", views.UnknownPathView.as_view()),
]  # fmt: skip
