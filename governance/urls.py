from django.contrib import admin
from django.urls import include, path

from governance.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("governance.api.urls")),
    path("healthz", health, name="health"),
]

handler400 = "governance.api.errors.bad_request"
handler403 = "governance.api.errors.permission_denied"
handler404 = "governance.api.errors.not_found"
handler500 = "governance.api.errors.server_error"
