import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, pkgutil, sys
sys.modules["django"] = None  # any `import django` now raises ImportError
import mlcore
names = [m.name for m in pkgutil.walk_packages(mlcore.__path__, "mlcore.")]
for name in names:
    importlib.import_module(name)
web = sorted(m for m in sys.modules if m.split(".")[0] in {"curation", "config", "rest_framework"})
assert not web, web
print(len(names))
"""


def test_every_mlcore_module_imports_without_django():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 20  # the walk really found the package's modules
