"""Scoring on an attribute card: start a job, cancel it, and the panel
(partials/_scoring.html) that HTMX polls while it runs. Without JS each POST redirects back
to the dataset page at the card."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from curation.access import get_attribute_for_user, require_perm
from curation.queries.scoring import active_job, scoring_panel
from curation.services.scoring import ScoringError, cancel_scoring_job, start_scoring_job

PARTIAL = "curation/partials/_scoring.html"


def _panel(request, attribute, error: str = ""):
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(f"{attribute.dataset.get_absolute_url()}#attribute-{attribute.pk}")
    context = {"scoring_panel": scoring_panel(attribute), "scoring_error": error}
    return render(request, PARTIAL, context)


@require_GET
@login_required
def scoring_panel_view(request, name: str, attribute: str):
    return _panel(request, get_attribute_for_user(request, name, attribute))


@require_POST
@login_required
def scoring_start(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    require_perm(request, "score_images")
    try:
        start_scoring_job(attribute=attr, actor=request.user, reason="button")
    except ScoringError as exc:
        return _panel(request, attr, str(exc))
    return _panel(request, attr)


@require_POST
@login_required
def scoring_cancel(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    require_perm(request, "score_images")
    job = active_job(attr)
    if job is not None:
        cancel_scoring_job(job=job, actor=request.user)
    return _panel(request, attr)
