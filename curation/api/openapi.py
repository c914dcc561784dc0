"""What the OpenAPI schema (/api/schema/) says, made to tell the truth.

The API's views are function views, so drf-spectacular knows neither their pagination nor
their errors. Here: `cursor_page()` is the envelope a cursor-paginated list really answers
(next, previous, results) and `page_parameters()` its query parameters with their bounds;
`request_header()` and `response_header()` describe the headers an operation reads or sends;
`ApiAutoSchema` adds to every operation the error statuses it can answer, each with the one
JSON error body curation.api.errors produces (the `Error` component), and gives integer
path parameters the range a view takes.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination

from curation import params

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Every error of this API. `detail` says what went wrong and what to send instead; "
        "`parameter` names the query parameter or header at fault (a bad number). A body "
        "that fails validation answers one key per field instead, each with its messages."
    ),
    "properties": {
        "detail": {"type": "string"},
        "parameter": {"type": "string"},
    },
    "additionalProperties": {},
}

SLUG = r"^[-a-zA-Z0-9_]+$"  # what Django's <slug:> path converter matches

# Statuses every operation can answer, and what each means here.
COMMON_ERRORS = {
    "400": "a parameter the view can't use (the body names it), or a NUL character in one",
    "401": "no credentials, or a token that isn't valid (send Authorization: Token <key>)",
    "403": "your account has no role yet, or your role may not do this",
    "503": "the database connection was lost; nothing was changed, try again (Retry-After)",
}
ERROR_HEADERS = {
    "401": ("WWW-Authenticate", "the scheme to authenticate with: Token"),
    "503": ("Retry-After", "seconds to wait before trying again"),
}
NOT_FOUND = "no such object (or a cursor that isn't one this API gave out)"
BODY_ERRORS = {
    "413": "the body is larger than this endpoint accepts",
    "415": "a body in a media type this endpoint doesn't read",
}


def cursor_page(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """The response of a cursor-paginated list of `serializer_class` rows."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        f"Paginated{name}List",
        {
            "next": serializers.URLField(
                allow_null=True, help_text="the next page; null on the last page"
            ),
            "previous": serializers.URLField(
                allow_null=True, help_text="the previous page; null on the first page"
            ),
            "results": serializer_class(many=True),
        },
    )


def page_parameters(paginator: type[CursorPagination]) -> list[OpenApiParameter]:
    """The cursor and page_size parameters of `paginator`, with the bounds it enforces."""
    page_size = {
        "type": "integer",
        "minimum": 1,
        "maximum": paginator.max_page_size,
        "default": paginator.page_size,
    }
    return [
        OpenApiParameter(
            paginator.cursor_query_param,
            str,
            description="the page to read: copy it from a page's next or previous link",
        ),
        OpenApiParameter(
            paginator.page_size_query_param,
            page_size,
            description=f"rows a page, 1 to {paginator.max_page_size}",
        ),
    ]


def request_header(
    name: str, schema: type | dict = str, *, description: str, required: bool = False
) -> OpenApiParameter:
    """A header the client sends."""
    return OpenApiParameter(
        name, schema, OpenApiParameter.HEADER, required=required, description=description
    )


def response_header(name: str, *, statuses: list[int], description: str) -> OpenApiParameter:
    """A header every answer with one of `statuses` carries."""
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.HEADER,
        required=True,
        response=statuses,
        description=description,
    )


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(COMMON_ERRORS)
        if self.takes_input():
            errors["404"] = NOT_FOUND
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(BODY_ERRORS)
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                errors[code] = response["description"]
        for code, description in errors.items():
            if "content" not in responses.get(code, {}):
                error = OpenApiResponse(self.error_ref(), description=description)
                responses[code] = self._get_response_for_code(
                    error, code, ["application/json"], direction
                )
            if code in ERROR_HEADERS:
                name, description = ERROR_HEADERS[code]
                header = {"schema": {"type": "string"}, "description": description}
                responses[code].setdefault("headers", {})[name] = {**header, "required": True}
        return dict(sorted(responses.items()))

    def takes_input(self) -> bool:
        """Whether the operation names something that may not exist: a path parameter, a
        query parameter (a dataset, a cursor) or a body."""
        return "{" in self.path or bool(self.get_override_parameters()) or self.method != "GET"

    def error_ref(self) -> dict:
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _get_parameters(self):
        found = super()._get_parameters()
        for parameter in found:
            schema = parameter.get("schema", {})
            if parameter["in"] != "path":
                continue
            if schema.get("type") == "integer":
                schema.setdefault("minimum", 0)
                schema.setdefault("maximum", params.MAX_ID)
            elif f"<slug:{parameter['name']}>" in self.path_regex:
                schema.setdefault("pattern", SLUG)
        return found

    def _get_request_for_media_type(self, serializer, direction="request"):
        # DRF's generic views validate a PATCH body as partial, and drf-spectacular
        # documents it so; this API's PATCH views validate the whole body.
        method = self.method
        self.method = "POST" if method == "PATCH" else method
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = method
