from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from curation import params
from curation.access import get_dataset_for_user, require_perm, require_viewer, visible_datasets
from curation.models import Image, ImageStatus, Label
from curation.queries import catalog, health
from curation.queries.scoring import scoring_panels
from curation.services.dataset_delete import DeleteRefused, busy_with, request_delete
from curation.services.dataset_sync import set_dataset_sync
from curation.services.datasets import move_label
from curation.services.sources import SourceError
from curation.views.explore import gallery_context
from curation.views.image_quality import panel_for
from curation.views.lookup import first_or_404


@require_GET
@login_required
def dataset_list(request):
    require_viewer(request)
    datasets = catalog.datasets_with_counts(visible_datasets(request.user))
    return render(request, "curation/dataset_list.html", {"datasets": datasets})


@require_GET
@login_required
def dataset_detail(request, name: str):
    dataset = get_dataset_for_user(request, name)
    attributes = catalog.attributes_with_labels(dataset)
    if request.htmx and request.htmx.target in ("more", "explore"):
        # The next page of the gallery only, or the sidebar and gallery for new filters.
        context = {"dataset": dataset, **gallery_context(request, dataset, attributes)}
        fragment = "tiles" if request.htmx.target == "more" else "explore"
        return render(request, f"curation/dataset_detail.html#{fragment}", context)
    quarantine = Paginator(
        Image.objects.filter(dataset=dataset, status=ImageStatus.QUARANTINED)
        .select_related("product")
        .order_by("id"),
        25,
    ).get_page(params.int_param(request.GET, "qpage", low=1, default=1))
    context = {
        "dataset": dataset,
        "attributes": attributes,
        "counts": catalog.label_counts(dataset, attributes),
        "splits": catalog.split_counts(dataset),
        "health": health.cached_health(dataset),
        "quarantine": quarantine,
        "scoring": scoring_panels(dataset, attributes),
        **gallery_context(request, dataset, attributes),
        **panel_for(request, dataset),
        "sync_form": SyncForm(
            initial={"source": dataset.sync_source, "every_minutes": dataset.sync_every_minutes}
        ),
    }
    return render(request, "curation/dataset_detail.html", context)


class SyncForm(forms.Form):
    source = forms.CharField(
        max_length=1024,
        required=False,
        help_text="s3://bucket/prefix/ or a server folder with labels.csv (CURATION_IMPORT_ROOTS).",
    )
    every_minutes = forms.IntegerField(
        min_value=1,
        max_value=60 * 24 * 30,
        required=False,
        label="Re-sync every (minutes)",
        help_text="Empty: no scheduled re-sync.",
    )


@require_POST
@login_required
def dataset_sync(request, name: str):
    """Turn the dataset's scheduled re-sync on, change it, or turn it off (empty interval)."""
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "schedule_sync")
    form = SyncForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect(dataset.get_absolute_url())
    every = form.cleaned_data["every_minutes"]
    try:
        set_dataset_sync(
            dataset, source=form.cleaned_data["source"], every_minutes=every, actor=request.user
        )
    except SourceError as exc:
        messages.error(request, str(exc))
    else:
        done = f"re-synced every {every} min" if every else "no longer re-synced on a schedule"
        messages.success(request, f"{dataset.name} is {done}.")
    return redirect(dataset.get_absolute_url())


@require_POST
@login_required
def label_move(request, name: str, label_id: int):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "order_labels")
    label = first_or_404(
        Label.objects.filter(pk=label_id, attribute__dataset=dataset).select_related("attribute"),
        f"Dataset '{name}' has no label #{label_id}.",
    )
    move_label(label=label, offset=-1 if request.POST.get("direction") == "up" else 1)
    if not request.htmx:
        return redirect(dataset.get_absolute_url())
    attributes = catalog.attributes_with_labels(dataset)
    attr = next(a for a in attributes if a.pk == label.attribute_id)
    context = {
        "dataset": dataset,
        "attr": attr,
        "counts": catalog.label_counts(dataset, [attr]),
        "splits": catalog.split_counts(dataset),
        "scoring": scoring_panels(dataset, [attr]),
    }
    return render(request, "curation/dataset_detail.html#attribute-card", context)


@login_required
def dataset_delete(request, name: str):
    """Confirm (type the name), then hide the dataset and queue the removal of its files."""
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "delete_dataset")
    error = ""
    if request.method == "POST":
        try:
            request_delete(dataset, actor=request.user, confirm=request.POST.get("confirm", ""))
        except DeleteRefused as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                f"{dataset.name} is deleted; its files are being removed in the background.",
            )
            return redirect("curation:dataset_list")
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    context = {
        "dataset": dataset,
        "busy": busy_with(dataset),
        "error": error,
        "counts": {"images": dataset.images.count(), "runs": dataset.runs.count()},
    }
    return render(request, "curation/dataset_delete.html", context, status=400 if error else 200)
