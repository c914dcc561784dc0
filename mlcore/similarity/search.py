"""'Similar, but with another <attribute>': filtered search plus a label-aware re-rank.

Ranking rule of `differs_search` (query q, attribute X, k results):

1. Candidates are the items of the label table that are in the index and whose label for X
   is known and differs from q's (or, when `value` is given, equals `value`).
2. The `pool` candidates most similar to q (cosine, from the index) are kept; default
   pool = max(10 k, 100). Nothing outside the pool is returned, so a result is always
   among the nearest items that qualify.
3. The pool is sorted by `agreements` (how many of the other attributes are known for both
   q and the item and equal), most first; ties by similarity, highest first. An unknown
   label counts as no agreement. The first k are returned.

So "the same dress with another neckline" (all other attributes equal) comes before a
closer dress that also changes the sleeve, but only if it is among the pool nearest.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from mlcore.similarity.index import SearchResult, VectorIndex

UNKNOWN = -1


@dataclass
class LabelTable:
    """Attribute labels per item id."""

    ids: np.ndarray  # (N,) int64 item ids, distinct
    labels: np.ndarray  # (N, A) int64 label index per attribute, -1 where unknown
    attributes: Sequence[str] = ()  # names of the A columns (optional)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64).ravel()
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.labels.ndim != 2 or self.labels.shape[0] != self.ids.shape[0]:
            raise ValueError(
                f"labels must have shape (N, A) with N = {self.ids.shape[0]} ids, "
                f"got {self.labels.shape}."
            )
        if np.unique(self.ids).shape[0] != self.ids.shape[0]:
            raise ValueError("LabelTable ids must be distinct.")
        if self.attributes and len(self.attributes) != self.labels.shape[1]:
            raise ValueError(
                f"{len(self.attributes)} attribute names for {self.labels.shape[1]} columns."
            )
        order = np.argsort(self.ids, kind="stable")
        self._sorted_ids, self._order = self.ids[order], order
        # Items per label of each column, so a search knows a filter's size in O(1).
        self._counts = [np.bincount(c[c >= 0], minlength=1) for c in self.labels.T]

    def count(self, column: int, value: int | None = None) -> int:
        """Items whose label in `column` is known (value None) or equals `value`."""
        counts = self._counts[column]
        if value is None:
            return int(counts.sum())
        return int(counts[value]) if 0 <= value < counts.shape[0] else 0

    def column(self, attribute: int | str) -> int:
        """Column index of an attribute given by name or index."""
        if isinstance(attribute, str):
            if attribute not in self.attributes:
                raise ValueError(f"unknown attribute {attribute!r}; known: {list(self.attributes)}")
            return list(self.attributes).index(attribute)
        if not 0 <= attribute < self.labels.shape[1]:
            raise ValueError(f"attribute {attribute} not in [0, {self.labels.shape[1]}).")
        return int(attribute)

    def rows_of(self, ids: Collection[int] | np.ndarray) -> np.ndarray:
        """(n,) int64 row of each of `ids` in `labels`; -1 for an id not in the table."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        rows = np.full(ids.shape[0], -1, np.int64)
        if not self.ids.size:
            return rows
        at = np.minimum(np.searchsorted(self._sorted_ids, ids), self.ids.size - 1)
        found = self._sorted_ids[at] == ids
        rows[found] = self._order[at[found]]
        return rows

    def of(self, ids: Collection[int] | np.ndarray) -> np.ndarray:
        """(n, A) int64 labels of `ids`; all -1 for an id not in the table."""
        rows = self.rows_of(ids)
        out = np.full((rows.shape[0], self.labels.shape[1]), UNKNOWN, np.int64)
        out[rows >= 0] = self.labels[rows[rows >= 0]]
        return out

    def with_labels(self, labels: np.ndarray) -> LabelTable:
        """The same ids with new labels (N, A): no re-sort or re-check of the ids, so an
        update of a large table costs O(N) for the counts alone."""
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != self.labels.shape:
            raise ValueError(f"labels must have shape {self.labels.shape}, got {labels.shape}.")
        new = copy.copy(self)
        new.labels = labels
        new._counts = [np.bincount(c[c >= 0], minlength=1) for c in labels.T]
        return new


@dataclass
class DiffersResult:
    ids: np.ndarray  # (k',) int64, in rank order
    scores: np.ndarray  # (k',) float32 cosine similarity to the query
    agreements: np.ndarray  # (k',) int64 other attributes equal to the query's (both known)

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def similar(
    index: VectorIndex,
    vector: np.ndarray,
    *,
    k: int = 10,
    exclude_ids: Collection[int] | None = None,
) -> SearchResult:
    """Plain look-alike search: vector (D,) -> the k most similar items."""
    return index.search(vector, k, exclude_ids=exclude_ids)


def agreements(query_labels: np.ndarray, labels: np.ndarray, *, skip: int) -> np.ndarray:
    """query_labels (A,), labels (n, A) -> (n,) int64: attributes other than column `skip`
    that are known on both sides and equal."""
    q = np.asarray(query_labels, np.int64)
    same = (labels == q[None, :]) & (labels != UNKNOWN) & (q[None, :] != UNKNOWN)  # (n, A)
    same[:, skip] = False
    return same.sum(axis=1).astype(np.int64)


def differs_search(
    index: VectorIndex,
    vector: np.ndarray,
    query_labels: Sequence[int] | np.ndarray,
    table: LabelTable,
    attribute: int | str,
    *,
    value: int | None = None,
    k: int = 10,
    pool: int | None = None,
    exclude_ids: Collection[int] | None = None,
) -> DiffersResult:
    """Items similar to `vector` ((D,)) whose `attribute` differs from `query_labels`
    ((A,) int, -1 unknown), or equals `value` when given; ranked as the module says.

    Pass the query's own id in `exclude_ids` when it is in the index. ValueError when the
    query's label for `attribute` is unknown and no `value` is given.
    """
    col = table.column(attribute)
    q = np.asarray(query_labels, dtype=np.int64).ravel()
    if q.shape[0] != table.labels.shape[1]:
        raise ValueError(
            f"query_labels has {q.shape[0]} entries, the table {table.labels.shape[1]}."
        )
    if value is None and q[col] == UNKNOWN:
        name = table.attributes[col] if table.attributes else f"attribute {col}"
        raise ValueError(f"the query's {name} is unknown: 'differs' needs it, or pass a value.")

    def qualifies(labels: np.ndarray) -> np.ndarray:
        """labels (n,) of column col -> (n,) bool."""
        if value is not None:
            return labels == int(value)
        return (labels != UNKNOWN) & (labels != q[col])

    if value is not None:
        allowed = table.count(col, int(value))
    else:
        allowed = table.count(col) - table.count(col, int(q[col]))
    allow: np.ndarray | Callable[[np.ndarray], np.ndarray]
    if allowed > index.config.loose_filter_share * len(index):
        # Most items qualify: test only the fetched candidates, no O(N) id list.
        allow = lambda ids: qualifies(table.of(ids)[:, col])  # noqa: E731
    else:
        wanted = qualifies(table.labels[table._order, col])  # in sorted-id order
        allow = table._sorted_ids[wanted]
    size = pool if pool is not None else max(10 * k, 100)
    found = index.search(vector, max(size, k), exclude_ids=exclude_ids, allow=allow)
    agree = agreements(q, table.of(found.ids), skip=col)  # (p,)
    order = np.lexsort((-found.scores, -agree))[:k]  # last key sorts first
    return DiffersResult(found.ids[order], found.scores[order], agree[order])
