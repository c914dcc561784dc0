"""Saved views: a named gallery filter of a dataset that anyone who may see the dataset can
open by its URL; only its owner may change or delete it."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from curation.models import Dataset, SavedView

NAME_MAX = 80
QUERY_MAX = 2000


class BadView(ValueError):
    """A saved view that cannot be kept; the message says what to change."""


def clean_view_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise BadView("Give the view a name, e.g. 'reshoots in test'.")
    if len(name) > NAME_MAX:
        raise BadView(f"A view name is at most {NAME_MAX} characters.")
    return name


def _check_query(query: str) -> str:
    """`query` comes from queries.explore.ExploreFilter.to_query(), parsed and checked."""
    if len(query) > QUERY_MAX:
        raise BadView(f"These filters are too long to save (over {QUERY_MAX} characters).")
    return query


def _check_owner(view: SavedView, actor) -> None:
    if view.owner_id != actor.pk:
        raise PermissionDenied(
            f"Only {view.owner.get_username()} can change or delete the view {view.name!r}."
        )


@transaction.atomic
def save_view(*, dataset: Dataset, owner, name: str, query: str) -> tuple[SavedView, bool]:
    """The owner's view `name` of the dataset, made or (same name again) given the new
    filters. Returns (view, created)."""
    view, created = SavedView.objects.select_for_update().get_or_create(
        dataset=dataset,
        owner=owner,
        name=clean_view_name(name),
        defaults={"query": _check_query(query)},
    )
    if not created and view.query != query:
        view.query = _check_query(query)
        view.save(update_fields=["query", "updated_at"])
    return view, created


@transaction.atomic
def update_view(*, view: SavedView, actor, name: str | None = None, query: str | None = None):
    """Rename the view and/or give it new filters: its owner only."""
    _check_owner(view, actor)
    fields = []
    if name is not None:
        clean = clean_view_name(name)
        taken = SavedView.objects.filter(dataset_id=view.dataset_id, owner=actor, name=clean)
        if taken.exclude(pk=view.pk).exists():
            raise BadView(f"You already have a view called {clean!r} in this dataset.")
        view.name = clean
        fields.append("name")
    if query is not None:
        view.query = _check_query(query)
        fields.append("query")
    if fields:
        view.save(update_fields=[*fields, "updated_at"])
    return view


@transaction.atomic
def delete_view(*, view: SavedView, actor) -> None:
    _check_owner(view, actor)
    view.delete()
