"""QA pages under load: the dashboard, gallery pages and relabels from a gallery, with 16
concurrent clients for 60 s against gunicorn + PostgreSQL at 1,000,000 images, next to the
same run at 10,000 images. Prints p50/p95/errors and checks that no relabel was lost.

    .venv/bin/python bench/pages.py                        # seeds once (~6 min), then ~3 min
    .venv/bin/python bench/pages.py --images 100000 --duration 20

Goals at 1M images: pages p95 < 100 ms, relabel p95 < 50 ms, 0 errors, 0 lost updates.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import bench_main  # noqa: E402

if __name__ == "__main__":
    bench_main(
        description=__doc__,
        clients=16,
        weights={"dashboard": 0.3, "gallery": 0.4, "relabel": 0.3},
        goals={"dashboard": 100, "gallery": 100, "relabel": 50},
    )
