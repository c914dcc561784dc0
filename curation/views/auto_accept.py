"""The auto-accept page of an attribute: the target precision (data scientists set it), the
per-class preview of what it would tag among new arrivals and how many of those tags are
expected wrong, Apply, and the undo banner of the batch just written."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from curation import roles
from curation.access import get_attribute_for_user, require_perm
from curation.models import Attribute, LabelEvent, LabelSource
from curation.queries.auto_accept import auto_accept_plan
from curation.services.auto_accept import (
    TARGET_MAX,
    TARGET_MIN,
    BadTarget,
    PlanChanged,
    apply_auto_accept,
    clean_target,
    set_auto_accept_target,
)
from curation.services.calibration import run_calibration


def page_url(attribute: Attribute) -> str:
    return reverse("curation:auto_accept", args=[attribute.dataset.name, attribute.name])


def arrivals_url(attribute: Attribute) -> str:
    """The new-arrivals queue of the attribute (its own page, views/arrivals.py)."""
    return reverse("curation:arrivals", args=[attribute.dataset.name, attribute.name])


def _undo_batch(request, attribute: Attribute) -> dict | None:
    """The auto-accept batch named by ?batch=, with its size, for the undo banner."""
    try:
        batch = uuid.UUID(request.GET.get("batch", ""))
    except ValueError:
        return None
    events = LabelEvent.objects.filter(
        batch=batch, attribute_id=attribute.pk, source=LabelSource.AUTO
    )
    count = events.count()
    if not count:
        return None
    reverted = LabelEvent.objects.filter(reverts__in=events).exists()
    return {"id": batch, "count": count, "reverted": reverted}


def _render(
    request, attribute: Attribute, *, typed: str = "", error: str = "", apply_error: str = ""
):
    if hasattr(attribute, "promoted"):
        run_calibration(attribute.promoted.run)  # older runs: fit and keep their temperature
    plan = auto_accept_plan(attribute)
    context = {
        "dataset": attribute.dataset,
        "attribute": attribute,
        "plan": plan,
        "run": plan.run,  # the attribute menu links the quality page to it
        "can_set": roles.may(request.user, "auto_accept"),
        "can_revert": roles.may(request.user, "revert"),
        "typed": typed if error else attribute.auto_accept_target or "",
        "error": error,
        "apply_error": apply_error,
        "target_min": TARGET_MIN,
        "target_max": TARGET_MAX,
        "undo": _undo_batch(request, attribute),
        "arrivals_url": arrivals_url(attribute),
    }
    return render(
        request, "curation/auto_accept.html", context, status=400 if error or apply_error else 200
    )


@require_http_methods(["GET", "POST"])
@login_required
def auto_accept(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    if request.method == "GET":
        return _render(request, attr)
    require_perm(request, "auto_accept")
    typed = request.POST.get("target", "")
    try:
        target = clean_target(typed)
    except BadTarget as exc:
        return _render(request, attr, typed=typed, error=str(exc))
    set_auto_accept_target(attribute=attr, target=target, actor=request.user)
    if target is None:
        messages.info(request, f"Auto-accept is off for {attr.name}.")
    else:
        messages.info(request, f"Target precision for {attr.name} set to {target:g}.")
    return redirect(page_url(attr))


@require_POST
@login_required
def auto_accept_apply(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    require_perm(request, "auto_accept")
    if request.POST.get("confirm") != "yes":
        return _render(
            request, attr, apply_error="confirm: tick the box to confirm the tags before applying."
        )
    try:
        result = apply_auto_accept(
            attribute=attr, actor=request.user, fingerprint=request.POST.get("plan", "")
        )
    except PlanChanged as exc:
        messages.error(request, str(exc))
        return redirect(page_url(attr))
    for problem in result.skipped:
        messages.error(request, f"Not tagged: {problem}")
    if result.batch is None:
        messages.info(request, "Nothing to tag.")
        return redirect(page_url(attr))
    counts = ", ".join(f"{n} {label}" for label, n in sorted(result.per_class.items()))
    messages.info(request, f"Auto-accepted {result.tagged} tag(s): {counts}.")
    return redirect(f"{page_url(attr)}?batch={result.batch}")
