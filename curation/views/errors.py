"""Error answers: a page that says what went wrong for the site, JSON {"detail": ...} for
every path under /api/ (config/urls.py names these as handler400/403/404/500; the API's own
errors go through curation.api.errors.exception_handler)."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from curation.params import BadParameter


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def error_response(request, status: int, reason: str, template: str) -> HttpResponse:
    """`reason` as JSON under /api/, else the error page `template` showing it."""
    if is_api(request):
        return JsonResponse({"detail": reason}, status=status)
    return render(request, template, {"reason": reason}, status=status)


def _reason(exception) -> str:
    if exception and exception.args and isinstance(exception.args[0], str):
        return exception.args[0]
    return ""


TOO_LARGE = (
    "The form fields of this request are larger than the server accepts "
    "(DATA_UPLOAD_MAX_MEMORY_SIZE); send less."
)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):  # raised by whoever first reads the form
        if is_api(request):
            return JsonResponse({"detail": TOO_LARGE}, status=413)
        return render(request, "400.html", {"reason": TOO_LARGE}, status=413)
    # Only our own BadParameter messages are shown: Django's SuspiciousOperation messages
    # (bad Host header, too many fields) are for the log, not for whoever sent them.
    reason = exception.message if isinstance(exception, BadParameter) else ""
    if is_api(request):
        return JsonResponse({"detail": reason or "Bad request."}, status=400)
    return render(request, "400.html", {"reason": reason}, status=400)


def permission_denied(request, exception=None):
    reason = str(exception or "")
    if is_api(request):
        detail = reason or "You do not have permission to perform this action."
        return JsonResponse({"detail": detail}, status=403)
    return render(request, "403.html", {"reason": reason}, status=403)


def not_found(request, exception=None):
    reason = _reason(exception)
    if is_api(request):
        return JsonResponse({"detail": reason or f"There is no API at {request.path}."}, status=404)
    return render(request, "404.html", {"reason": reason}, status=404)


def server_error(request):
    # No template with the site's base: it may query the database that just failed.
    if is_api(request):
        return JsonResponse(
            {"detail": "Server error: the request failed on our side; it has been logged."},
            status=500,
        )
    return defaults.server_error(request)
