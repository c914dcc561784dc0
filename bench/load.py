"""Production load: 64 concurrent clients mixing gallery views and relabels for 60 s
against gunicorn + PostgreSQL at 1,000,000 images (and a 10,000-image baseline in the same
run). Prints p50/p95/throughput/errors; every accepted relabel must be in history and in
the final labels (0 lost updates).

    .venv/bin/python bench/load.py
    .venv/bin/python bench/load.py --images 100000 --duration 20
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import bench_main  # noqa: E402

if __name__ == "__main__":
    bench_main(
        description=__doc__,
        clients=64,
        weights={"gallery": 0.6, "relabel": 0.4},
        goals={},
    )
