"""The API's readable reference: Swagger UI over /api/schema/, served from this app's own static
files (drf-spectacular-sidecar), so it works with no network and under the page's CSP."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_required
def api_docs(request):
    """Every endpoint, its parameters and answers; "Try it out" runs as the signed-in user."""
    return render(request, "curation/api_docs.html")
