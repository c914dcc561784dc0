"""The API's errors, all JSON: DRF's own, ours (a bad number parameter, a body too large or
too deeply nested) and Django's request-size refusals, which DRF would leave to become an
HTML page. Unexpected exceptions still propagate, so Django logs them and
curation.views.errors.server_error answers a JSON 500."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from curation.api.parsers import RequestTooLarge
from curation.params import BadParameter


def exception_handler(exc, context):
    if isinstance(exc, BadParameter):
        set_rollback()
        response = Response({"detail": exc.message, "parameter": exc.name}, status=400)
        return _as_json(response, context)
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            "The form fields of this request are larger than the server accepts; send less."
        )
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request could not be read (too many fields, or damaged).")
    return _as_json(drf_exception_handler(exc, context), context)


def _as_json(response, context):
    """JSON, whatever renderer the request asked for (the schema's YAML, the browsable
    API's HTML): a client reading an error should never have to parse a page."""
    request = context.get("request")
    if response is not None and request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    return response
