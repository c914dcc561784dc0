"""Image quality on a dataset: start a CleanVision scan, and the panel (partials/
_image_quality.html) that HTMX polls while it runs and pages through its galleries."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from curation import params
from curation.access import get_dataset_for_user, require_perm
from curation.queries.image_quality import panel_context
from curation.services.image_quality import start_quality_scan

PARTIAL = "curation/partials/_image_quality.html"


def panel_for(request, dataset) -> dict:
    """The partial's context from the request's iq_issue / iq_page; for any page that
    includes the partial."""
    page = params.int_param(request.GET, "iq_page", low=1, default=1)
    return panel_context(dataset, issue=request.GET.get("iq_issue"), page=page)


@require_GET
@login_required
def image_quality_panel(request, name: str):
    dataset = get_dataset_for_user(request, name)
    if not request.htmx:  # a link followed without JS: the dataset page, at the panel
        keep = {k: request.GET[k] for k in ("iq_issue", "iq_page") if request.GET.get(k)}
        query = f"?{urlencode(keep)}" if keep else ""
        return redirect(f"{dataset.get_absolute_url()}{query}#image-quality")
    return render(request, PARTIAL, panel_for(request, dataset))


@require_POST
@login_required
def image_quality_scan(request, name: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "scan_images")
    start_quality_scan(dataset=dataset, actor=request.user)
    if request.htmx:
        return render(request, PARTIAL, panel_context(dataset))
    back = request.POST.get("next", "")  # the page that includes the panel
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = dataset.get_absolute_url()
    return redirect(f"{back.partition('#')[0]}#image-quality")
