"""Exports of a dataset's labels: labels.csv streamed at once, and a zip of ImageNet-style
folders built by a worker (a job page with a progress bar, then a download)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import get_dataset_for_user, require_perm
from curation.models import ExportJob
from curation.services.exports import labels_csv_lines, start_folder_export


@require_GET
@login_required
def labels_csv(request, name: str):
    """The current labels of every usable image as labels.csv (streamed: any catalog size)."""
    dataset = get_dataset_for_user(request, name)
    response = StreamingHttpResponse(labels_csv_lines(dataset), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{dataset.name}-labels.csv"'
    return response


@require_POST
@login_required
def export_start(request, name: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "export")
    attribute_id = params.id_param(request.POST, "attribute")
    attribute = dataset.attributes.filter(pk=attribute_id).first() if attribute_id else None
    if attribute is None:
        messages.error(request, "Choose the attribute whose labels name the folders.")
        return redirect(dataset.get_absolute_url() + "#export")
    job = start_folder_export(dataset, attribute, actor=request.user)
    return redirect("curation:export_job", name=dataset.name, job_id=job.pk)


def _job(request, name: str, job_id: int) -> ExportJob:
    dataset = get_dataset_for_user(request, name)
    return get_object_or_404(
        ExportJob.objects.select_related("dataset", "attribute"), pk=job_id, dataset=dataset
    )


@require_GET
@login_required
def export_job(request, name: str, job_id: int):
    job = _job(request, name, job_id)
    context = {"job": job, "dataset": job.dataset, "may_export": roles.may(request.user, "export")}
    template = "curation/export_job.html#progress" if request.htmx else "curation/export_job.html"
    return render(request, template, context)


@require_GET
@login_required
def export_download(request, name: str, job_id: int):
    job = _job(request, name, job_id)
    if job.status != ExportJob.Status.SUCCEEDED or not job.file:
        raise Http404(f"Export {job.pk} has no file to download: it is {job.status}.")
    try:
        handle = default_storage.open(job.file, "rb")
    except FileNotFoundError:
        raise Http404(f"Export {job.pk}'s file is gone from storage; export again.") from None
    return FileResponse(
        handle, as_attachment=True, filename=job.download_name, content_type="application/zip"
    )
