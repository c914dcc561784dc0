"""A row a page needs, or a 404 that names what is missing."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404

M = TypeVar("M", bound=Model)


def first_or_404(rows: QuerySet[M], missing: str) -> M:
    """The first of `rows`; a 404 saying `missing` when there is none."""
    found = rows.first()
    if found is None:
        raise Http404(missing)
    return found
