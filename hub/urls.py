from anymail import urls as anymail_urls
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.views import healthz, home
from contacts.views import unsubscribe
from hub.views import metrics, readyz
from outreach.views import approval_emails_off, approval_link


def esp_webhook_urlpatterns(esp: str | None) -> list[URLPattern | URLResolver]:
    """anymail's inbound and tracking webhooks of one ESP (`settings.ANYMAIL_ESP`),
    with anymail's URL names. The other ESPs' views must not be reachable: they
    are not configured (no signing keys, no SDK settings) and a call to one fails
    in ways nobody watches; their paths are 404s like any unknown path."""
    if not esp:
        return []
    return [
        pattern
        for pattern in anymail_urls.urlpatterns
        if str(pattern.pattern).lstrip("^").split("/", 1)[0] == esp
    ]


urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("automations.api.urls")),
    path("v1/", include("accounts.api.urls")),
    path("v1/", include("outreach.api.urls")),
    path("v1/", include("contacts.api.urls")),
    path("v1/", include("automations.api.inbound_urls")),
    path("v1/", include("webhooks.api.urls")),
    path("v2/", include("outreach.api.salesloft.urls")),
    path("functions/v1/", include("outreach.api.magpipe.urls")),
    path("u/<str:token>", unsubscribe, name="unsubscribe"),
    path("approvals/emails-off/<str:token>", approval_emails_off, name="approval_emails_off"),
    path("approvals/<str:token>", approval_link, name="approval_link"),
    path(
        "webhooks/anymail/",
        include((esp_webhook_urlpatterns(settings.ANYMAIL_ESP), anymail_urls.app_name)),
    ),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
