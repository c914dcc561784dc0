"""The OpenAPI schema view (/api/schema/); what the schema says comes from
curation.api.openapi."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView

from curation.params import BadParameter


class SchemaView(SpectacularAPIView):
    """drf-spectacular's view, taking only this API's own ?version=: the library writes the
    parameter into the Content-Disposition header as given, and a newline there was a 500."""

    @extend_schema(**SCHEMA_KWARGS)  # as the library's own get: left out of the schema
    def get(self, request, *args, **kwargs):
        version = request.query_params.get("version")
        ours = settings.SPECTACULAR_SETTINGS["VERSION"]
        if version is not None and version != ours:
            raise BadParameter(
                "version", f"version must be {ours}, the one version of this API (or left out)"
            )
        return super().get(request, *args, **kwargs)
