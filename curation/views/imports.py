from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from curation import roles
from curation.access import (
    get_import_job_for_user,
    is_hidden_dataset,
    require_perm,
    visible_datasets,
    visible_import_jobs,
)
from curation.models import ImportJob
from curation.services.import_jobs import (
    CREATE_LABEL,
    cancel_import_job,
    save_uploaded_catalog,
    start_import_job,
)
from curation.services.sources import SourceError


class ImportForm(forms.Form):
    dataset = forms.SlugField(
        max_length=80, help_text=f"Existing dataset, or a new name with '{CREATE_LABEL}'."
    )
    source = forms.CharField(
        max_length=1024,
        required=False,
        help_text="A folder with labels.csv, a CSV file on the server, or s3://bucket/prefix/.",
    )
    upload = forms.FileField(
        required=False, help_text="…or upload a .zip with labels.csv and images."
    )
    create = forms.BooleanField(required=False, label=CREATE_LABEL)
    create_labels = forms.CharField(
        required=False,
        max_length=2000,
        label="Create these labels",
        help_text=(
            "Labels new to an existing attribute, comma-separated: boat, or neckline:boat for "
            "one attribute. Any other label the dataset lacks is a row error naming it."
        ),
    )
    overwrite_manual = forms.BooleanField(
        required=False, label="Let changed source labels replace labels people changed here"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        roots = ", ".join(settings.CURATION_IMPORT_ROOTS) or "nowhere (set CURATION_IMPORT_ROOTS)"
        self.fields["source"].help_text = (
            f"A folder with labels.csv or a CSV file on the server, under {roots}; "
            "or s3://bucket/prefix/."
        )

    def clean_source(self):
        source = self.cleaned_data["source"].strip()
        roots = settings.CURATION_IMPORT_ROOTS
        if source and not source.startswith("s3://"):
            resolved = Path(source).expanduser().resolve()
            if not any(resolved.is_relative_to(Path(root).resolve()) for root in roots):
                where = f"only under {', '.join(roots)}" if roots else "no server folder"
                raise forms.ValidationError(
                    f"imports from the web may read {where} (CURATION_IMPORT_ROOTS); "
                    "upload a .zip instead, or use s3://"
                )
        return source

    def clean(self):
        data = super().clean()
        if "source" in self.errors:  # the path was refused: its own error says why
            return data
        if not data.get("source") and not data.get("upload"):
            raise forms.ValidationError("Give a source path or upload a file.")
        if data.get("source") and data.get("upload"):
            raise forms.ValidationError("Give a source path or upload a file, not both.")
        return data


@require_http_methods(["GET", "POST"])
@login_required
def import_start(request):
    require_perm(request, "import")
    limit_mb = settings.CURATION_MAX_UPLOAD_MB
    if request.method == "POST" and _content_length(request) > (limit_mb + 1) * 1024 * 1024:
        # Refused before Django reads the body, so an oversized upload never reaches the disk.
        form = ImportForm(initial={"dataset": request.GET.get("dataset", "")})
        form.cleaned_data = {}  # an unbound form: add_error() expects this to exist
        form.add_error(
            None,
            f"the upload is {_content_length(request) / 2**20:.0f} MB; the limit is {limit_mb} MB "
            "(CURATION_MAX_UPLOAD_MB). Split the catalog, or import it from a folder or s3://.",
        )
        return _render_form(request, form, status=413)
    form = ImportForm(
        request.POST or None,
        request.FILES or None,
        initial={"dataset": request.GET.get("dataset", "")},
    )
    if request.method == "POST" and form.is_valid():
        _refuse_hidden_dataset(request, form)
    if request.method == "POST" and form.is_valid():
        try:
            upload = None
            if form.cleaned_data["upload"]:
                upload = save_uploaded_catalog(form.cleaned_data["upload"])
            job = start_import_job(
                source=form.cleaned_data["source"],
                upload=upload,
                dataset_name=form.cleaned_data["dataset"],
                create=form.cleaned_data["create"],
                create_labels=form.cleaned_data["create_labels"],
                overwrite_manual=form.cleaned_data["overwrite_manual"],
                actor=request.user,
            )
        except SourceError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("curation:import_job", job_id=job.pk)
    return _render_form(request, form, status=400 if request.method == "POST" else 200)


def _refuse_hidden_dataset(request, form: ImportForm) -> None:
    """A dataset limited to teams the user is not in is not theirs to import into (dataset
    names are unique, so the name stays taken)."""
    name = form.cleaned_data["dataset"]
    if is_hidden_dataset(request.user, name):
        form.add_error("dataset", f"'{name}' is not a dataset you can import into; choose another.")


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _render_form(request, form, *, status: int):
    recent = visible_import_jobs(request.user).order_by("-id")[:10]
    datasets = visible_datasets(request.user).order_by("name").values_list("name", flat=True)
    context = {"form": form, "recent": recent, "datasets": datasets}
    return render(request, "curation/import_form.html", context, status=status)


@require_GET
@login_required
def import_job(request, job_id: int):
    job = get_import_job_for_user(request, job_id)
    source, hide = _shown_source(job, request.user)
    context = {
        "job": job,
        "source": source,
        "error": hide(job.error),
        "may_cancel": roles.may(request.user, "import"),
        **_report_tables(job.report or {}, hide),
    }
    template = "curation/import_job.html#progress" if request.htmx else "curation/import_job.html"
    return render(request, template, context)


@require_POST
@login_required
def import_cancel(request, job_id: int):
    job = get_import_job_for_user(request, job_id)
    require_perm(request, "import")
    if cancel_import_job(job, actor=request.user):
        messages.info(
            request, "Import cancelled: rows already written stay; start it again to finish."
        )
    else:
        messages.info(request, "This import had already ended.")
    return redirect("curation:import_job", job_id=job.pk)


def _shown_source(job: ImportJob, user) -> tuple[str, Callable[[str], str]]:
    """Server paths are for those who import (data scientists, admins); others see the
    uploaded file's own name, or a folder's last name, also inside error messages."""
    if roles.may(user, "import"):  # an upload by its name: its server folder is a uuid
        return job.upload_name or job.source, lambda text: text
    if job.upload_name:
        shown = job.upload_name
    elif job.source.startswith("s3://"):
        shown = job.source
    else:
        shown = f"a server folder ({Path(job.source).name})"
    paths = {job.source, job.upload_dir, str(Path(job.source).parent), str(settings.VAR_DIR)}
    paths = sorted((p for p in paths if p.startswith("/") and len(p) > 1), key=len, reverse=True)

    def hide(text: str) -> str:
        for path in paths:
            text = text.replace(path, shown)
        return text

    return shown, hide


def _report_tables(report: dict, hide: Callable[[str], str]) -> dict:
    """The report's counts, and the rows it left out under their headings, for the page."""
    counts = [
        ("Created", report.get("created")),
        ("Updated", report.get("updated")),
        ("Unchanged", report.get("unchanged")),
        ("Conflicts", len(report.get("conflicts", []))),
        ("Quarantined", len(report.get("quarantined", []))),
        ("Errors", len(report.get("errors", []))),
    ]
    new_labels = report.get("new_labels", [])
    missing = [n for n in new_labels if not n.get("created")]
    left_out = [
        (heading, [{**r, "reason": hide(str(r.get("reason", "")))} for r in report.get(key, [])])
        for heading, key in (("Quarantined files", "quarantined"), ("Rows not imported", "errors"))
    ]
    return {
        "counts": counts,
        "left_out": left_out,
        "new_labels": new_labels,
        "missing_labels": ", ".join(f"{n['attribute']}:{n['label']}" for n in missing),
        "unused_create_labels": report.get("unused_create_labels", []),
    }
