from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from curation.access import (
    get_dataset_for_user,
    get_run_for_user,
    require_perm,
    require_viewer,
    visible,
)
from curation.models import Attribute, RunImage, TrainingRun
from curation.queries.calibration import class_reliability
from curation.queries.pr_curves import class_pr_curves
from curation.queries.runs import Estimate, estimate_run, runs_ahead
from curation.queries.strength import run_strength
from curation.services.calibration import run_calibration
from curation.services.runs.classifier_start import (
    build_config,
    default_options,
    start_training_run,
)
from curation.services.runs.control import (
    WeakRunError,
    cancel_training_run,
    promote_training_run,
)
from curation.services.runs.idempotency import start_once
from curation.services.runs.options import TrainingError
from curation.services.runs.resume import resume_training_run
from curation.views.forms import BackboneForm, WholeNumberField
from curation.views.similarity_runs import source_rows


class RetrainForm(BackboneForm):
    ARCHES = [
        ("resnet18", "ResNet-18"),
        ("resnet50", "ResNet-50"),
        ("efficientnet_lite0", "EfficientNet-Lite0"),
    ]
    arch = forms.ChoiceField(choices=ARCHES)
    stn = forms.BooleanField(required=False, label="Spatial Transformer front-end")
    pretrained = forms.BooleanField(
        required=False, label="Start from ImageNet weights (EfficientNet-Lite0 only)"
    )
    class_weighting = forms.ChoiceField(
        choices=[
            ("none", "none"),
            ("inverse", "inverse frequency"),
            ("effective", "effective number of samples"),
        ],
        label="Weighted loss for imbalance",
    )
    cv_folds = WholeNumberField(
        min_value=2, max_value=10, label="Folds for out-of-sample probabilities"
    )
    cv_epochs = WholeNumberField(
        required=False,  # empty: the recipe's
        min_value=1,
        max_value=500,
        label="Epochs per fold",
        help_text="Each fold model trains this many epochs: the folds are most of a run's time.",
    )
    devices = forms.CharField(
        required=False,  # empty: one device, as before the option existed
        initial="1",
        max_length=8,
        label="Devices",
        help_text=(
            "1, all, or a number N: train on N of the worker's GPUs with DDP (N CPU "
            "processes on a worker without GPUs). The cross-fitting folds run on one."
        ),
    )
    # A fresh key per render: a double click or a resent form starts one run.
    idempotency_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


FORM_DEFAULTS = ("epochs", "image_size", "pretrained", "cv_folds", "cv_epochs")


def retrain_target(request, name: str, attribute: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "train")
    attr = Attribute.objects.filter(dataset=dataset, name=attribute).first()
    if attr is None:
        raise Http404(f"Dataset '{name}' has no attribute '{attribute}'.")
    return dataset, attr


def form_estimate(dataset, attr, form: RetrainForm | None) -> tuple[Estimate | None, str]:
    """(estimate, why there is none) for the form's options (None: the defaults)."""
    options = {}
    if form is not None:
        if not form.is_valid():
            return None, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        options = {k: v for k, v in form.cleaned_data.items() if k != "idempotency_key"}
    try:
        return estimate_run(attr, build_config(dataset, options)), ""
    except TrainingError as exc:
        return None, str(exc)


@require_GET
@login_required
def retrain_estimate(request, name: str, attribute: str):
    """The form's estimate for the options it holds now (HTMX, on every change)."""
    dataset, attr = retrain_target(request, name, attribute)
    estimate, problem = form_estimate(dataset, attr, RetrainForm(request.GET))
    context = {
        "estimate": estimate,
        "estimate_error": problem,
        "dataset": dataset,
        "attribute": attr,
    }
    return render(
        request, "curation/retrain.html#estimate", context, status=400 if problem else 200
    )


@require_http_methods(["GET", "POST"])
@login_required
def retrain(request, name: str, attribute: str):
    dataset, attr = retrain_target(request, name, attribute)
    defaults = default_options(dataset)
    initial = {"class_weighting": "none", "cv_folds": 3, "devices": "1", **defaults}
    initial["idempotency_key"] = uuid.uuid4().hex
    # What the form's fields become when another architecture is picked (static/js/app.js).
    arch_defaults = {
        arch: {"pretrained": False}
        | {k: v for k, v in default_options(dataset, arch).items() if k in FORM_DEFAULTS}
        for arch, _ in RetrainForm.base_fields["arch"].choices  # type: ignore[attr-defined]
    }
    form = RetrainForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        options = dict(form.cleaned_data)
        key = options.pop("idempotency_key")
        try:
            run, _ = start_once(
                start_training_run,
                dataset=dataset,
                idempotency_key=key,
                attribute_id=attr.pk,
                attribute=attr,
                options=options,
                actor=request.user,
            )
        except TrainingError as exc:
            form.add_error(exc.option if exc.option in form.fields else None, str(exc))
        else:
            return redirect(run.get_absolute_url())
    estimate, problem = form_estimate(dataset, attr, form if form.is_bound else None)
    context = {
        "dataset": dataset,
        "attribute": attr,
        "form": form,
        "arch_defaults": arch_defaults,
        "estimate": estimate,
        "estimate_error": problem,
    }
    status = 400 if request.method == "POST" else 200  # here after a POST: the form has errors
    return render(request, "curation/retrain.html", context, status=status)


@require_GET
@login_required
def run_list(request):
    require_viewer(request)
    runs = TrainingRun.objects.select_related("dataset", "attribute", "created_by").order_by("-id")
    runs = visible(request.user, runs)
    if request.GET.get("dataset"):
        runs = runs.filter(dataset__name=request.GET["dataset"])
    if request.GET.get("attribute"):
        runs = runs.filter(attribute__name=request.GET["attribute"])
    return render(request, "curation/run_list.html", {"runs": runs[:200]})


@require_GET
@login_required
def run_detail(request, run_id: int):
    run = get_run_for_user(request, run_id)
    ahead = runs_ahead(run, visible(request.user, TrainingRun.objects.all()))
    if request.htmx and request.htmx.target == "run-progress":
        return render(request, "curation/run_detail.html#progress", {"run": run, "ahead": ahead})
    suspects = (
        RunImage.objects.filter(run=run, suspect_rank__isnull=False)
        .select_related("image", "given_label", "predicted_label")
        .order_by("suspect_rank")[:24]
    )
    promoted = getattr(run.attribute, "promoted", None) if run.attribute_id else None
    calibration = run_calibration(run)  # first: it fits and keeps T, which the next reads
    return render(
        request,
        "curation/run_detail.html",
        {
            "run": run,
            "ahead": ahead,
            "suspects": suspects,
            "is_promoted": promoted is not None and promoted.run_id == run.pk,
            "sources": source_rows(run) if run.kind == TrainingRun.Kind.SIMILARITY else None,
            "calibration": calibration,
            "class_reliability": class_reliability(run),
            "strength": run_strength(run),
            "pr_curves": class_pr_curves(run),
        },
    )


@require_POST
@login_required
def run_cancel(request, run_id: int):
    run = get_run_for_user(request, run_id)
    cancel_training_run(run=run, actor=request.user)
    messages.info(
        request,
        "Cancel requested: the run stops within one training step and keeps its checkpoint; "
        "Resume continues from it.",
    )
    return redirect(run.get_absolute_url())


@require_POST
@login_required
def run_resume(request, run_id: int):
    run = get_run_for_user(request, run_id)
    try:
        resume_training_run(run=run, actor=request.user)
    except TrainingError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Run {run.pk} is queued again: it continues from its checkpoint.")
    return redirect(run.get_absolute_url())


@require_POST
@login_required
def run_promote(request, run_id: int):
    run = get_run_for_user(request, run_id)
    try:
        promote_training_run(
            run=run, actor=request.user, confirm_weak=request.POST.get("confirm_weak") == "1"
        )
    except WeakRunError as exc:
        messages.error(request, f"Not promoted: {exc} (tick the box under Promote).")
    except TrainingError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Run {run.pk} is now the current model for {run.attribute.name}.")
    return redirect(run.get_absolute_url())
