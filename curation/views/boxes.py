"""The box editor: draw where the dress is in an image (ground truth for the localizer and
the crop every embedding starts from), and the list of images that still need one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from curation import params, roles
from curation.access import get_dataset_for_user, get_image_for_user, require_perm
from curation.models import Image, ImageBox, ImageStatus
from curation.queries import catalog
from curation.services.boxes import save_box
from curation.services.indexes import SimilarityError

DISPLAY_PX = 560  # the longer side of the image in the editor (small images are scaled up)
PAGE = 120


class BoxForm(forms.Form):
    x0 = forms.FloatField(min_value=0, max_value=1, label="left")
    y0 = forms.FloatField(min_value=0, max_value=1, label="top")
    x1 = forms.FloatField(min_value=0, max_value=1, label="right")
    y1 = forms.FloatField(min_value=0, max_value=1, label="bottom")


def _next_missing(image: Image) -> Image | None:
    return (
        Image.objects.filter(dataset_id=image.dataset_id, status=ImageStatus.OK, box__isnull=True)
        .filter(pk__gt=image.pk)
        .order_by("pk")
        .first()
    )


def _fractions(box: ImageBox) -> str:
    """The box as "x0,y0,x1,y1" in fractions of the image; static/js/similarity.js places it
    (no inline style: the page's Content-Security-Policy refuses style attributes)."""
    return ",".join(f"{v:.5f}" for v in (box.x0, box.y0, box.x1, box.y1))


@require_http_methods(["GET", "POST"])
@login_required
def image_box(request, image_id: int):
    image = get_image_for_user(request, image_id)
    current = ImageBox.objects.filter(image=image).select_related("updated_by").first()
    if request.method == "POST":
        require_perm(request, "edit_boxes")
        form = BoxForm(request.POST)
        if form.is_valid():
            box = tuple(form.cleaned_data[k] for k in ("x0", "y0", "x1", "y1"))
            try:
                save_box(image=image, box=box, actor=request.user)
            except SimilarityError as exc:
                form.add_error(None, str(exc))
            else:
                messages.info(request, f"Saved the box of image #{image.pk}.")
                following = _next_missing(image) if request.POST.get("then") == "next" else None
                return redirect("curation:image_box", image_id=(following or image).pk)
    else:
        initial = (
            {k: round(getattr(current, k), 4) for k in ("x0", "y0", "x1", "y1")}
            if current
            else None
        )
        form = BoxForm(initial=initial)
    scale = DISPLAY_PX / max(image.width or 1, image.height or 1)
    context = {
        "image": image,
        "dataset": image.dataset,
        "current": current,
        "form": form,
        "display_width": round((image.width or DISPLAY_PX) * scale),
        "current_box": _fractions(current) if current else "",
        "can_edit": roles.may(request.user, "relabel"),
        "next_missing": _next_missing(image),
    }
    status = 400 if request.method == "POST" else 200  # here after a POST: the form has errors
    return render(request, "curation/box_editor.html", context, status=status)


@require_GET
@login_required
def boxes_missing(request, name: str):
    """Images of the dataset without a box, oldest first, PAGE at a time (?after=<id>)."""
    dataset = get_dataset_for_user(request, name)
    after = params.int_param(request.GET, "after", default=0)
    missing = Image.objects.filter(dataset=dataset, status=ImageStatus.OK, box__isnull=True)
    page = list(missing.filter(pk__gt=after).order_by("pk")[: PAGE + 1])
    context = {
        "dataset": dataset,
        "images": page[:PAGE],
        "total": catalog.missing_box_count(dataset),
        "after": page[PAGE - 1].pk if len(page) > PAGE else None,
    }
    return render(request, "curation/boxes_missing.html", context)
