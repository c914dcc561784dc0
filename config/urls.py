from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from curation.api.schema import SchemaView
from curation.views.health import healthz

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/", include("curation.api.urls")),
    path("", include("curation.urls")),
]

# No MEDIA_URL route, even under DEBUG: images are served by views that check the login.

# JSON under /api/, a page that says what went wrong elsewhere.
handler400 = "curation.views.errors.bad_request"
handler403 = "curation.views.errors.permission_denied"
handler404 = "curation.views.errors.not_found"
handler500 = "curation.views.errors.server_error"
