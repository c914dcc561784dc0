"""The dataset gallery's Explore sidebar: its filters (read by queries.explore), tags on a
selection of tiles or on one image, and saved views with a URL to share."""

from __future__ import annotations

from urllib.parse import parse_qs

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import (
    get_dataset_for_user,
    get_image_for_user,
    get_saved_view_for_user,
    require_perm,
    require_viewer,
)
from curation.queries import catalog, explore
from curation.queries.scores import scores_for_images
from curation.services.saved_views import BadView, delete_view, save_view, update_view
from curation.services.tags import SUGGESTED, BadTag, tag_images, untag_images
from curation.views.nav import back_to


def gallery_context(request, dataset, attributes) -> dict:
    """The context of dataset_detail.html's #explore fragment: the sidebar and one page."""
    flt = explore.ExploreFilter.parse(request.GET, dataset, attributes)
    images, next_cursor = explore.explore_images(
        dataset, flt, after=params.id_param(request.GET, "after")
    )
    # The promoted models' predictions on the tiles: one lookup for the whole page.
    scores = scores_for_images([im.pk for im in images], dataset_id=dataset.pk)
    views = explore.saved_views(dataset)
    view_id = params.id_param(request.GET, "view")
    tags = explore.dataset_tags(dataset)
    return {
        "images": images,
        "scores": scores,
        "next_cursor": next_cursor,
        "filter": flt,
        "filter_attribute": flt.attribute,
        "filter_label": "none" if flt.unlabelled else str(flt.label_id or ""),
        "filter_split": flt.split or "",
        "filter_query": flt.to_query(),
        "is_first_page": not request.GET.get("after"),
        "tags": tags,
        "tag_names": sorted({*SUGGESTED, *(t.name for t in tags)}),
        "saved_views": views,
        "current_view": next((v for v in views if v.pk == view_id), None),
        "can_tag": roles.may(request.user, "tag"),
    }


def image_tag_context(request, image) -> dict:
    """The image page's tags panel (partials/_image_tags.html)."""
    return {
        "image_tags": explore.image_tags(image),
        "tag_names": sorted({*SUGGESTED, *(t.name for t in explore.dataset_tags(image.dataset))}),
        "can_tag": roles.may(request.user, "tag"),
    }


def _image_ids(request) -> list[int]:
    return params.int_list(request.POST, "image")


@require_POST
@login_required
def dataset_tag(request, name: str):
    """Tag (or untag) the selected tiles of the gallery: ?image= repeated, tag, action."""
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "tag")
    back = back_to(request, dataset.get_absolute_url() + "#gallery")
    ids = _image_ids(request)
    if not ids:
        messages.error(request, "Select at least one image (its box under the tile) to tag.")
        return redirect(back)
    _tag_or_untag(request, dataset, ids)
    return redirect(back)


@require_POST
@login_required
def image_tag(request, image_id: int):
    """Tag (or untag) one image, from its page."""
    image = get_image_for_user(request, image_id)
    require_perm(request, "tag")
    _tag_or_untag(request, image.dataset, [image.pk])
    return redirect(back_to(request, image.get_absolute_url()))


def _tag_or_untag(request, dataset, ids: list[int]) -> None:
    action = request.POST.get("action", "add")
    if action not in ("add", "remove"):
        raise params.BadParameter("action", f"action must be add or remove, not {action[:20]!r}")
    tag_name = request.POST.get("tag", "")
    try:
        if action == "add":
            tag, added = tag_images(
                dataset=dataset, image_ids=ids, name=tag_name, actor=request.user
            )
            messages.success(request, f"Tagged {added} image(s) {tag.name!r}.")
        else:
            removed = untag_images(
                dataset=dataset, image_ids=ids, name=tag_name, actor=request.user
            )
            messages.success(request, f"Took the tag off {removed} image(s).")
    except BadTag as exc:
        messages.error(request, f"Not tagged: {exc}")


def _posted_filter(request, dataset) -> explore.ExploreFilter:
    """The filter a save form posts in `query` (the gallery's own query string), checked the
    way the gallery reads it, so a saved view always opens."""
    raw = request.POST.get("query", "")
    query = QueryDict(mutable=True)
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        query.setlist(key, values)
    return explore.ExploreFilter.parse(query, dataset, catalog.attributes_with_labels(dataset))


@require_POST
@login_required
def saved_view_save(request, name: str):
    """Save the gallery's filters under a name (the same name again replaces its filters)."""
    dataset = get_dataset_for_user(request, name)
    require_viewer(request)
    flt = _posted_filter(request, dataset)
    try:
        view, created = save_view(
            dataset=dataset,
            owner=request.user,
            name=request.POST.get("name", ""),
            query=flt.to_query(),
        )
    except BadView as exc:
        messages.error(request, f"Not saved: {exc}")
        return redirect(back_to(request, dataset.get_absolute_url() + "#gallery"))
    done = "Saved" if created else "Updated"
    messages.success(request, f"{done} the view {view.name!r}: share {view.get_absolute_url()}")
    return redirect(view.get_absolute_url())


@require_GET
@login_required
def saved_view(request, name: str, view_id: int):
    """A saved view's URL: the gallery with its filters, for anyone who may see the dataset."""
    view = get_saved_view_for_user(request, name, view_id)
    query = f"{view.query}&view={view.pk}" if view.query else f"view={view.pk}"
    return redirect(f"{view.dataset.get_absolute_url()}?{query}#gallery")


@require_POST
@login_required
def saved_view_edit(request, name: str, view_id: int):
    """Rename a view (name) or give it the gallery's current filters (query): owner only."""
    view = get_saved_view_for_user(request, name, view_id)
    require_viewer(request)
    query = _posted_filter(request, view.dataset).to_query() if "query" in request.POST else None
    try:
        update_view(view=view, actor=request.user, name=request.POST.get("name"), query=query)
    except BadView as exc:
        messages.error(request, f"Not changed: {exc}")
    return redirect(view.get_absolute_url())


@require_POST
@login_required
def saved_view_delete(request, name: str, view_id: int):
    view = get_saved_view_for_user(request, name, view_id)
    require_viewer(request)
    delete_view(view=view, actor=request.user)
    messages.success(request, f"Deleted the view {view.name!r}.")
    return redirect(view.dataset.get_absolute_url() + "#gallery")
