from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import get_event_for_user, get_image_for_user
from curation.models import Attribute, Label
from curation.queries import catalog
from curation.queries.scores import scores_for_images
from curation.services.labels import (
    REASON_MAX,
    BadReason,
    StaleLabel,
    clean_reason,
    relabel_image,
    revert_label_event,
)
from curation.views.explore import image_tag_context
from curation.views.files import serve_stored_file
from curation.views.galleries import image_nav
from curation.views.nav import back_to


@require_GET
@login_required
def image_detail(request, image_id: int):
    image = get_image_for_user(request, image_id)
    context = _image_context(request, image, nav=image_nav(request, image))
    return render(request, "curation/image_detail.html", context)


def _image_context(request, image, **extra) -> dict:
    return {
        "image": image,
        "labels": catalog.image_labels(image),
        "history": catalog.image_history(image),
        "scores": scores_for_images([image.pk], dataset_id=image.dataset_id).get(image.pk, []),
        "can_relabel": roles.may(request.user, "relabel"),
        "reason_max": REASON_MAX,
        "show_box": bool(image.file) and catalog.has_boxes(image.dataset),
        **image_tag_context(request, image),
        **extra,
    }


@require_POST
@login_required
def image_relabel(request, image_id: int):
    image = get_image_for_user(request, image_id)
    try:
        attribute = Attribute.objects.get(
            dataset_id=image.dataset_id, name=request.POST.get("attribute", "")
        )
    except Attribute.DoesNotExist:
        raise Http404("That attribute does not exist in this image's dataset.") from None
    label_id = params.id_param(request.POST, "label")  # none: clear the label
    label = None
    if label_id is not None:
        label = Label.objects.filter(attribute=attribute, pk=label_id).first()
        if label is None:
            raise Http404(f"'{label_id}' is not a label of {attribute.name}.")
    version = params.int_param(request.POST, "version")
    error, status, reason = "", 200, ""
    try:
        reason = clean_reason(request.POST.get("note", ""))
        _, event = relabel_image(
            image=image,
            attribute=attribute,
            label=label,
            actor=request.user,
            expected_version=version,
            note=reason,
        )
    except BadReason as exc:
        error, status = f"Not saved: {exc}", 422
    except StaleLabel as exc:
        error, status = (
            f"Not saved: {exc.changed_by(attribute.name)} since you loaded the page.",
            409,
        )
    else:
        if event is None and reason:  # the reason would be lost without a change to keep it
            current = label.name if label else "no label"
            error, status = (
                f"Nothing saved: {attribute.name} is already {current}. "
                "Pick another label to record the reason with the change.",
                422,
            )
    if request.htmx:
        response = render(
            request,
            "curation/image_detail.html#labels-and-history",
            # A reason that wasn't saved stays in its field, to fix or to keep for the change.
            _image_context(
                request,
                image,
                error=error,
                typed={"attribute": attribute.name, "note": reason} if error else None,
            ),
        )
        response.status_code = status
        return response
    if error:
        messages.error(request, error)
    return redirect(image.get_absolute_url())


@require_POST
@login_required
def event_revert(request, event_id: int):
    event = get_event_for_user(request, event_id)
    error = ""
    try:
        revert_label_event(event=event, actor=request.user)
    except StaleLabel as exc:
        error = f"Not reverted: {exc.__cause__ or exc}"
    image = get_image_for_user(request, event.image_id)
    if request.htmx:
        response = render(
            request,
            "curation/image_detail.html#labels-and-history",
            _image_context(request, image, error=error),
        )
        response.status_code = 409 if error else 200
        return response
    if error:
        messages.error(request, error)
    return redirect(back_to(request, image.get_absolute_url()))


@require_GET
@login_required
def image_thumbnail(request, image_id: int):
    return serve_stored_file(get_image_for_user(request, image_id).thumbnail)


@require_GET
@login_required
def image_file(request, image_id: int):
    return serve_stored_file(get_image_for_user(request, image_id).file)
