from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog, set_language
from jobs import admin as jobs_admin
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from heygem_site import health, views

admin.site.site_header = _("HeyGem administration")
admin.site.site_title = _("HeyGem admin")

urlpatterns = [
    path("", include("jobs.urls")),
    path("team/", views.team_home, name="team-home"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("jobs.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The page's script is served separately, as the Content-Security-Policy wants.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", views.api_index, name="api-index"),
    path("api/v1/", views.api_index),
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/disk-usage/", admin.site.admin_view(jobs_admin.disk_usage), name="admin-disk-usage"),
    path("admin/", admin.site.urls),
]

handler400 = "heygem_site.api.bad_request"
handler403 = "heygem_site.api.permission_denied"
handler404 = "heygem_site.api.page_not_found"
handler500 = "heygem_site.api.server_error"
