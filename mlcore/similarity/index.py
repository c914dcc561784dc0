"""A FAISS index over L2-normalised embeddings with int64 item ids.

Exact search (IndexFlatIP) while the index is small, HNSW (inner product) from
`IndexConfig.hnsw_threshold` live vectors on. Inner product on unit vectors is cosine
similarity: scores lie in [-1, 1], higher is more similar.

FAISS itself only holds rows 0..n-1; this wrapper maps rows to item ids. HNSW cannot
delete, so `remove` (and `add` of an id already present, which replaces its vector) marks
the old row dead; dead rows never come back from `search`, and once they are
`IndexConfig.compact_share` of all rows the index is rebuilt from the live ones.

Not safe for concurrent writers; concurrent `search` calls are fine.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from mlcore.storage import write_bytes_atomic

FORMAT = 1
_faiss: Any = faiss  # its bundled type hints lack the search-parameter classes
GATHER_LIMIT = 4096  # exact filtered search over at most this many rows copies them
# A predicate over candidate ids: (n,) int64 -> (n,) bool, True = may be returned.
IdPredicate = Callable[[np.ndarray], np.ndarray]
Allow = Collection[int] | np.ndarray | IdPredicate


@dataclass
class IndexConfig:
    hnsw_threshold: int = 50_000  # live vectors from which HNSW replaces exact search
    hnsw_m: int = 32  # graph degree: more = better recall, more memory, slower build
    ef_construction: int = 64  # build-time beam width
    ef_search: int = 128  # query-time beam width (raised to k when k is larger)
    # HNSW: an id-set filter allowing more than this share of the items over-fetches on
    # the graph; a tighter one is scored exactly (a FAISS IDSelector scan of the vectors).
    loose_filter_share: float = 0.125
    compact_share: float = 0.25  # rebuild once dead rows are this share of all rows

    def validate(self) -> None:
        for name in ("hnsw_threshold", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"IndexConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if not 0.0 <= self.loose_filter_share <= 1.0:
            raise ValueError(
                f"IndexConfig.loose_filter_share must be in [0, 1]: {self.loose_filter_share}"
            )
        if not 0.0 < self.compact_share <= 1.0:
            raise ValueError(f"IndexConfig.compact_share must be in (0, 1]: {self.compact_share}")


@dataclass
class SearchResult:
    ids: np.ndarray  # (k',) int64, most similar first; k' < k when fewer items qualify
    scores: np.ndarray  # (k',) float32 cosine similarity

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass
class VectorIndex:
    """Similarity search over (id, unit vector) pairs; see the module docstring."""

    dim: int
    config: IndexConfig = field(default_factory=IndexConfig)

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}.")
        self.config.validate()
        self._index: Any = faiss.IndexFlatIP(self.dim)
        self._ids = np.zeros(0, np.int64)  # (rows,) row -> item id
        self._alive = np.zeros(0, bool)  # (rows,) False once removed or replaced
        self._row: dict[int, int] = {}  # live item id -> row
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None  # sorted live ids, rows

    # ---- state -------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """ "flat" (exact) or "hnsw"."""
        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "flat"

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    @property
    def ids(self) -> np.ndarray:
        """(n,) int64 live item ids, in insertion order."""
        return self._ids[self._alive]

    def vectors(self, ids: Collection[int] | np.ndarray) -> np.ndarray:
        """(n, D) float32 stored unit vectors of `ids` (KeyError for an id not present)."""
        rows = [self._row[int(i)] for i in np.asarray(ids, np.int64).ravel()]
        return self._storage()[rows].copy()

    # ---- writes ------------------------------------------------------------------------
    def add(self, ids: Collection[int] | np.ndarray, vectors: np.ndarray) -> None:
        """ids: (n,) int64, distinct; vectors: (n, D) float. Vectors are L2-normalised
        here. An id already present gets the new vector (its old row is marked dead)."""
        ids_arr = np.asarray(ids, dtype=np.int64).ravel()
        vecs = _unit_rows(vectors, self.dim, what="vectors")
        if vecs.shape[0] != ids_arr.shape[0]:
            raise ValueError(f"{ids_arr.shape[0]} ids for {vecs.shape[0]} vectors.")
        if np.unique(ids_arr).shape[0] != ids_arr.shape[0]:
            raise ValueError("ids passed to add() must be distinct.")
        if not ids_arr.size:
            return
        self._lookup = None
        replaced = [self._row.pop(int(i)) for i in ids_arr if int(i) in self._row]
        if replaced:
            self._alive[replaced] = False
        start = self._ids.shape[0]
        self._ids = np.concatenate([self._ids, ids_arr])
        self._alive = np.concatenate([self._alive, np.ones(ids_arr.shape[0], bool)])
        self._row.update(zip(ids_arr.tolist(), range(start, start + ids_arr.shape[0]), strict=True))
        if self.kind == "flat" and len(self) >= self.config.hnsw_threshold:
            self._rebuild(extra=vecs)
        else:
            self._index.add(vecs)
            self._maybe_compact()

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Drop `ids` (ids not present are ignored); returns how many were removed."""
        rows = [
            self._row.pop(int(i)) for i in np.asarray(ids, np.int64).ravel() if int(i) in self._row
        ]
        if rows:
            self._lookup = None
            self._alive[rows] = False
            self._maybe_compact()
        return len(rows)

    def compact(self) -> None:
        """Rebuild from the live vectors: frees dead rows, and picks flat or HNSW by size."""
        self._rebuild()

    def _maybe_compact(self) -> None:
        dead = self._ids.shape[0] - len(self)
        if dead and dead >= self.config.compact_share * self._ids.shape[0]:
            self._rebuild()

    def _rebuild(self, extra: np.ndarray | None = None) -> None:
        """New FAISS index over the live rows (+ `extra`, rows not yet added, at the end)."""
        stored = self._storage()
        parts = [stored[self._alive[: stored.shape[0]]]]
        if extra is not None:
            parts.append(extra)
        vecs = np.ascontiguousarray(np.concatenate(parts))
        self._ids = self._ids[self._alive]
        self._alive = np.ones(self._ids.shape[0], bool)
        self._row = dict(zip(self._ids.tolist(), range(self._ids.shape[0]), strict=True))
        self._lookup = None
        self._index = self._new_index(hnsw=len(self) >= self.config.hnsw_threshold)
        self._index.add(vecs)

    def _new_index(self, *, hnsw: bool) -> Any:
        if not hnsw:
            return faiss.IndexFlatIP(self.dim)
        index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.config.ef_construction
        index.hnsw.efSearch = self.config.ef_search
        return index

    def _storage(self) -> np.ndarray:
        """(rows, D) float32 view of the vectors FAISS holds (no copy)."""
        flat: Any = (
            self._index if self.kind == "flat" else faiss.downcast_index(self._index.storage)
        )
        n = flat.ntotal
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    # ---- search ------------------------------------------------------------------------
    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        exclude_ids: Collection[int] | np.ndarray | None = None,
        allow: Allow | None = None,
    ) -> SearchResult:
        """The k live items most similar to `vector` ((D,) or (1, D) float).

        exclude_ids: never returned (e.g. the query item itself). allow: only these may be
        returned, either a set/array of ids, or a predicate (n,) int64 ids -> (n,) bool.
        A predicate, and on HNSW a loose id set (see IndexConfig.loose_filter_share), are
        searched by over-fetching and filtering, the fetch growing 4x until k pass or the
        index is exhausted. A tighter id set is scored exactly: HNSW misses too many
        neighbours when most of the graph is filtered out. Fewer than k come back only when
        fewer than k items qualify.
        """
        q = _unit_rows(vector, self.dim, what="vector")
        if q.shape[0] != 1:
            raise ValueError(f"search takes one vector, got {q.shape[0]}; use search_many.")
        if k < 1 or not len(self):
            return _empty()
        excluded = _id_array(exclude_ids)
        if allow is None or callable(allow):
            predicate = allow if callable(allow) else None
            return self._search_filtered(q, k, excluded, predicate)
        allowed = _id_array(allow)  # sorted
        if excluded.size:
            allowed = allowed[~np.isin(allowed, excluded)]
        if self.kind == "hnsw" and allowed.size > self.config.loose_filter_share * len(self):
            return self._search_filtered(q, k, excluded, lambda ids: _member(ids, allowed))
        return self._exact(q, self._rows_of(allowed), k)

    def search_many(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered search of many queries: vectors (Q, D) -> (ids (Q, k) int64, scores
        (Q, k) float32); -1 / -inf pad rows with fewer than k live results."""
        q = _unit_rows(vectors, self.dim, what="vectors")
        dead = self._ids.shape[0] - len(self)
        fetch = min(k + dead, self._ids.shape[0]) if dead else min(k, self._ids.shape[0])
        out_ids = np.full((q.shape[0], k), -1, np.int64)
        out_scores = np.full((q.shape[0], k), -np.inf, np.float32)
        if fetch < 1:
            return out_ids, out_scores
        scores, rows = self._index.search(q, fetch, params=self._params(fetch))
        for i in range(q.shape[0]):
            ok = rows[i] >= 0
            ok[ok] = self._alive[rows[i][ok]]
            got = rows[i][ok][:k]
            out_ids[i, : got.size] = self._ids[got]
            out_scores[i, : got.size] = scores[i][ok][:k]
        return out_ids, out_scores

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the live ones among `ids` (sorted, distinct), vectorised."""
        if self._lookup is None:
            live = np.flatnonzero(self._alive)
            order = np.argsort(self._ids[live], kind="stable")
            self._lookup = (self._ids[live][order], live[order])
        keys, rows = self._lookup
        if not keys.size:
            return np.zeros(0, np.int64)
        at = np.minimum(np.searchsorted(keys, ids), keys.size - 1)
        return rows[at[keys[at] == ids]]

    def _params(self, k: int) -> Any:
        if self.kind == "hnsw":
            return _faiss.SearchParametersHNSW(efSearch=max(self.config.ef_search, k))
        return None

    def _search_filtered(
        self, q: np.ndarray, k: int, excluded: np.ndarray, predicate: IdPredicate | None
    ) -> SearchResult:
        """Over-fetch and filter: fetch grows 4x until k rows pass or every row was seen."""
        total = self._ids.shape[0]
        dead = total - len(self)
        fetch = min(total, (k + excluded.size + dead) * (2 if predicate is not None else 1))
        while True:
            scores, rows = self._index.search(q, fetch, params=self._params(fetch))
            scores, rows = scores[0], rows[0]
            ok = rows >= 0
            ok[ok] = self._alive[rows[ok]]
            ids = np.where(ok, self._ids[rows], -1)
            if excluded.size:
                ok &= ~np.isin(ids, excluded)
            if predicate is not None and ok.any():
                ok[ok] = np.asarray(predicate(ids[ok]), dtype=bool)
            if ok.sum() >= k or fetch >= total:
                break
            fetch = min(total, fetch * 4)
        if ok.sum() < k and self.kind == "hnsw" and (rows < 0).any():
            # HNSW returned fewer rows than asked for: score every live row exactly.
            live = np.flatnonzero(self._alive)
            keep = ~np.isin(self._ids[live], excluded)
            if predicate is not None:
                keep &= np.asarray(predicate(self._ids[live]), dtype=bool)
            return self._exact(q, live[keep], k)
        return SearchResult(ids[ok][:k].copy(), scores[ok][:k].astype(np.float32))

    def _exact(self, q: np.ndarray, rows: np.ndarray, k: int) -> SearchResult:
        """Brute-force top k of the given live rows: numpy for a few, else a FAISS scan of
        the stored vectors restricted by an IDSelectorBitmap (no copy of the vectors)."""
        if not rows.size:
            return _empty()
        if rows.size <= GATHER_LIMIT:
            scores = self._storage()[rows] @ q[0]  # (r,)
            top = np.argsort(-scores, kind="stable")[:k]
            return SearchResult(self._ids[rows[top]], scores[top].astype(np.float32))
        mask = np.zeros(self._ids.shape[0], bool)
        mask[rows] = True
        bits = np.packbits(mask, bitorder="little")  # must outlive the search
        selector = faiss.IDSelectorBitmap(mask.shape[0], faiss.swig_ptr(bits))
        flat: Any = (
            self._index if self.kind == "flat" else faiss.downcast_index(self._index.storage)
        )
        found_scores, found = flat.search(q, k, params=_faiss.SearchParameters(sel=selector))
        ok = found[0] >= 0
        return SearchResult(self._ids[found[0][ok]], found_scores[0][ok].astype(np.float32))

    # ---- storage -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The whole index (FAISS data, ids, config) as one .npz blob; see from_bytes."""
        meta = {"format": FORMAT, "dim": self.dim, "config": asdict(self.config)}
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            faiss=faiss.serialize_index(self._index),
            ids=self._ids,
            alive=self._alive,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes())
                blob, ids, alive = npz["faiss"], npz["ids"], npz["alive"]
        except Exception as exc:  # noqa: BLE001 - zip / npz / json errors of all kinds
            raise ValueError(f"not a saved VectorIndex ({type(exc).__name__}: {exc})") from exc
        if meta.get("format") != FORMAT:
            raise ValueError(f"saved VectorIndex format {meta.get('format')}, expected {FORMAT}")
        index = cls(int(meta["dim"]), IndexConfig(**meta["config"]))
        index._index = faiss.deserialize_index(blob)
        if index.kind == "hnsw":
            index._index.hnsw.efSearch = index.config.ef_search
        if index._index.ntotal != ids.shape[0] or alive.shape != ids.shape:
            raise ValueError("saved VectorIndex is inconsistent: row counts differ.")
        index._ids, index._alive = ids.astype(np.int64), alive.astype(bool)
        live = index._ids[index._alive].tolist()
        index._row = dict(zip(live, np.flatnonzero(index._alive).tolist(), strict=True))
        return index

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temporary file + rename): a crash keeps the previous file."""
        write_bytes_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VectorIndex:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{path}: index file not found") from exc
        try:
            return cls.from_bytes(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc


def _unit_rows(x: np.ndarray, dim: int, *, what: str) -> np.ndarray:
    """(n, dim) C-contiguous float32 rows of unit length; ValueError on zero/NaN rows."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}) or ({dim},), got {arr.shape}.")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)  # (n, 1)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError(f"{what}: every vector must be finite and non-zero.")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def _id_array(ids: Collection[int] | np.ndarray | None) -> np.ndarray:
    """Sorted distinct int64 ids."""
    if ids is None:
        return np.zeros(0, np.int64)
    if isinstance(ids, np.ndarray):
        arr = ids.astype(np.int64, copy=False).ravel()
        if arr.size < 2 or bool(np.all(arr[1:] > arr[:-1])):
            return arr  # already sorted and distinct: skip the O(n log n) unique
        return np.unique(arr)
    return np.unique(np.fromiter((int(i) for i in ids), np.int64))


def _member(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """(n,) bool: which of `ids` are in `sorted_ids` (sorted, non-empty)."""
    at = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
    return sorted_ids[at] == ids


def _empty() -> SearchResult:
    return SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
