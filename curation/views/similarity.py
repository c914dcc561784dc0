"""Similar dresses: look-alikes of an image (optionally "but another <attribute>"), search by
an uploaded photo, and the dataset's index builds."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from curation import params
from curation.access import get_dataset_for_user, get_image_for_user, require_perm
from curation.models import Attribute, SimilarityIndex, TrainingRun
from curation.queries import search
from curation.services.indexes import SimilarityError, start_index_build
from curation.views.similarity_runs import training_context


def _attributes(dataset):
    return list(
        Attribute.objects.filter(dataset=dataset)
        .prefetch_related("labels")
        .order_by("position", "id")
    )


def _data_url(data: bytes, content_type: str | None) -> str:
    """The uploaded query photo, shown beside its results (CSP allows img-src data:)."""
    kind = content_type if (content_type or "").startswith("image/") else "image/png"
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


@require_GET
@login_required
def image_similar(request, image_id: int):
    image = get_image_for_user(request, image_id)
    context = {
        "image": image,
        "dataset": image.dataset,
        "attributes": _attributes(image.dataset),
        "hits": [],
        "error": "",
    }
    try:
        query = search.parse_query(request.GET)
        context["query"] = query
        context["hits"] = search.similar_to_image(image, query)
    except params.BadParameter as exc:  # the page, with the message beside the form
        context["error"], status = exc.message, 400
        context.setdefault("query", search.Query())
    except search.SearchError as exc:  # no index yet, an unknown attribute: said, not a 4xx
        context["error"], status = str(exc), 200
        context.setdefault("query", search.Query())
    else:
        status = 200
    template = "curation/similar.html#results" if request.htmx else "curation/similar.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def dataset_similarity(request, name: str):
    """The dataset's index builds, and search by an uploaded photo."""
    dataset = get_dataset_for_user(request, name)
    indexes = list(
        SimilarityIndex.objects.filter(dataset=dataset)
        .select_related("created_by", "run")
        .order_by("-id")[:10]
    )
    context = {
        "dataset": dataset,
        "indexes": indexes,
        "current": search.current_index(dataset),
        "attributes": _attributes(dataset),
        "hits": None,
        "error": "",
        "query": search.Query(),
        **training_context(dataset),
    }
    if request.htmx and request.htmx.target == "index-builds":
        return render(request, "curation/similarity.html#builds", context)
    if request.method == "POST":
        upload = request.FILES.get("photo")
        try:
            context["query"] = search.parse_query(request.POST)
            if upload is None:
                raise search.SearchError("choose a photo to search with")
            data = upload.read()
            context["hits"] = search.similar_to_upload(dataset, data, upload.name, context["query"])
            context["query_photo"] = _data_url(data, upload.content_type)
        except params.BadParameter as exc:
            context["error"] = exc.message
        except search.SearchError as exc:
            context["error"] = str(exc)
    status = 400 if context["error"] else 200
    return render(request, "curation/similarity.html", context, status=status)


@require_POST
@login_required
def index_build(request, name: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "build_index")
    run_id = params.id_param(request.POST, "run")  # a similarity run whose net embeds
    run = None  # none: the pretrained embedder
    if run_id is not None:
        run = TrainingRun.objects.filter(pk=run_id, dataset=dataset).first()
    try:
        if run_id is not None and run is None:
            raise SimilarityError(f"there is no run #{run_id} of {dataset.name}")
        row = start_index_build(dataset=dataset, actor=request.user, run=run)
    except SimilarityError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Index #{row.pk} is queued on the cpu queue; progress shows below.")
    return redirect("curation:dataset_similarity", name=dataset.name)
