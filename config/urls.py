from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from curation.views.health import healthz

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("curation.api.urls")),
    path("", include("curation.urls")),
]

# No MEDIA_URL route, even under DEBUG: images are served by views that check the login.

handler403 = "curation.views.images.permission_denied"
handler404 = "curation.views.images.not_found"
