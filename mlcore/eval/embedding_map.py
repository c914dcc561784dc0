"""A 2-D map of embeddings: UMAP (umap-learn) where it is installed and the set is of a size
it lays out in reasonable time, PCA otherwise; plus what the map page needs on top of a
layout: the unit-square coordinates, density bins for large maps, and a lasso's
point-in-polygon test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UMAP_MIN = 30  # fewer points: UMAP's neighbour graph has too little to work with
UMAP_MAX = 200_000  # more: minutes on a CPU worker; PCA is seconds at 1,000,000


@dataclass(frozen=True)
class Layout:
    xy: np.ndarray  # (N, 2) float32
    method: str  # "umap" | "pca"


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2) float32: the two leading principal components."""
    x = np.asarray(vectors, dtype=np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[1] == 1:
        return np.concatenate([x, np.zeros_like(x)], axis=1)
    from sklearn.decomposition import PCA

    solver = "randomized" if x.shape[0] > 10_000 and x.shape[1] > 2 else "full"
    return (
        PCA(n_components=2, svd_solver=solver, random_state=0).fit_transform(x).astype(np.float32)
    )


def layout_2d(vectors: np.ndarray, *, method: str = "auto", seed: int = 0) -> Layout:
    """vectors: (N, D) float. method: "umap", "pca" or "auto" (UMAP when installed and
    UMAP_MIN <= N <= UMAP_MAX, else PCA)."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"vectors must be (N, D) with N >= 1, got {x.shape}")
    n = x.shape[0]
    if method == "auto":
        method = "umap" if umap_available() and UMAP_MIN <= n <= UMAP_MAX else "pca"
    if method == "pca":
        return Layout(pca_2d(x), "pca")
    if method != "umap":
        raise ValueError(f"unknown layout method {method!r} (umap, pca or auto)")
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
    return Layout(np.asarray(reducer.fit_transform(x), dtype=np.float32), "umap")


def unit_square(xy: np.ndarray) -> np.ndarray:
    """(N, 2) -> (N, 2) float32 in [0, 1], one scale for both axes (shapes keep their
    aspect), centred."""
    xy = np.asarray(xy, dtype=np.float32)
    if not xy.shape[0]:
        return xy
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float((hi - lo).max()) or 1.0
    return ((xy - (lo + hi) / 2) / span + 0.5).astype(np.float32)


def density_bins(unit: np.ndarray, codes: np.ndarray, *, grid: int, colours: int):
    """A 2-D histogram per colour. unit: (N, 2) in [0, 1]; codes: (N,) int colour per point.
    Returns (counts (grid, grid) int64 of all points, top (grid, grid) int64: the most
    frequent colour of each bin, row y, column x)."""
    cells = np.clip((unit * grid).astype(np.int64), 0, grid - 1)
    flat = cells[:, 1] * grid + cells[:, 0]
    per_colour = np.zeros((colours, grid * grid), np.int64)
    np.add.at(per_colour, (np.asarray(codes, np.int64), flat), 1)
    counts = per_colour.sum(axis=0).reshape(grid, grid)
    return counts, per_colour.argmax(axis=0).reshape(grid, grid)


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: which of points (N, 2) lie inside polygon (M, 2), M >= 3 (even-odd rule,
    one vectorised pass per edge)."""
    px, py = points[:, 0], points[:, 1]
    inside = np.zeros(points.shape[0], bool)
    m = polygon.shape[0]
    for i in range(m):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % m]
        crosses = (y1 > py) != (y2 > py)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)
    return inside
