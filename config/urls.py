from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.views import healthz
from contacts.views import unsubscribe

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("automations.api.urls")),
    path("v1/", include("accounts.api.urls")),
    path("v1/", include("outreach.api.urls")),
    path("v1/", include("contacts.api.urls")),
    path("v1/", include("automations.api.inbound_urls")),
    path("v2/", include("outreach.api.salesloft.urls")),
    path("functions/v1/", include("outreach.api.magpipe.urls")),
    path("u/<str:token>", unsubscribe, name="unsubscribe"),
    path("webhooks/anymail/", include("anymail.urls")),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
