from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from curation.access import get_import_job_for_user, require_perm
from curation.models import Dataset, ImportJob
from curation.services.import_jobs import save_uploaded_catalog, start_import_job
from curation.services.sources import SourceError


class ImportForm(forms.Form):
    dataset = forms.SlugField(
        max_length=80, help_text="Existing dataset, or a new name with 'create'."
    )
    source = forms.CharField(
        max_length=1024,
        required=False,
        help_text="A folder with labels.csv, a CSV file on the server, or s3://bucket/prefix/.",
    )
    upload = forms.FileField(
        required=False, help_text="…or upload a .zip with labels.csv and images."
    )
    create = forms.BooleanField(
        required=False, label="Create the dataset, attributes and labels if missing"
    )
    overwrite_manual = forms.BooleanField(
        required=False, label="Let changed source labels replace labels people changed here"
    )

    def clean(self):
        data = super().clean()
        if not data.get("source") and not data.get("upload"):
            raise forms.ValidationError("Give a source path or upload a file.")
        if data.get("source") and data.get("upload"):
            raise forms.ValidationError("Give a source path or upload a file, not both.")
        return data


@require_http_methods(["GET", "POST"])
@login_required
def import_start(request):
    require_perm(request, "manage_dataset", "import catalogs (data scientist or admin needed)")
    form = ImportForm(
        request.POST or None,
        request.FILES or None,
        initial={"dataset": request.GET.get("dataset", "")},
    )
    if request.method == "POST" and form.is_valid():
        source = form.cleaned_data["source"]
        try:
            if form.cleaned_data["upload"]:
                source = str(save_uploaded_catalog(form.cleaned_data["upload"]))
            job = start_import_job(
                source=source,
                dataset_name=form.cleaned_data["dataset"],
                create=form.cleaned_data["create"],
                overwrite_manual=form.cleaned_data["overwrite_manual"],
                actor=request.user,
            )
        except SourceError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("curation:import_job", job_id=job.pk)
    recent = ImportJob.objects.order_by("-id")[:10]
    datasets = Dataset.objects.order_by("name").values_list("name", flat=True)
    return render(
        request, "curation/import_form.html", {"form": form, "recent": recent, "datasets": datasets}
    )


@require_GET
@login_required
def import_job(request, job_id: int):
    job = get_import_job_for_user(request, job_id)
    template = "curation/import_job.html#progress" if request.htmx else "curation/import_job.html"
    return render(request, template, {"job": job})
