import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlcore.cli import main
from mlcore.store import save_model
from mlcore.train import fit
from tests.mlcore.conftest import NAMES, tiny_config

ROOT = Path(__file__).resolve().parents[2]


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mlcore", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def labels_csv(make_items, tmp_path):
    items = make_items(30)
    lines = ["path,product,split,pattern,colour"]
    for i, (path, label) in enumerate(items):
        rel = Path(path).relative_to(tmp_path)
        split = "test" if i >= 24 else "train"
        lines.append(f"{rel},p{i},{split},{NAMES[label] if i != 3 else ''},red")
    csv = tmp_path / "labels.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


TRAIN = [
    "--arch",
    "resnet18",
    "--width",
    "8",
    "--small-stem",
    "--image-size",
    "16",
    "--batch-size",
    "8",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--lr",
    "0.05",
]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attribute", "size"], "unknown attribute 'size'; the CSV has 'pattern', 'colour'"),
        (["--attribute", "colour"], "'colour' has 1 distinct label(s)"),
        (["--data", "nowhere.csv"], "nowhere.csv: labels CSV not found"),
        (["--epochs", "0"], "epochs must be > 0"),
        (["--weights", "missing.pth"], "missing.pth: weights file not found"),
        (["--arch", "vgg16"], "arch='vgg16' is not one of"),
    ],
)
def test_train_reports_bad_input_in_one_line(labels_csv, tmp_path, capsys, args, message):
    base = {"--data": str(labels_csv), "--attribute": "pattern", "--out": str(tmp_path / "m")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["train", *TRAIN, *[x for pair in base.items() for x in pair]]

    code = main(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("mlcore train: error:")


def test_train_without_training_rows_says_so(tmp_path, capsys):
    csv = tmp_path / "labels.csv"
    csv.write_text("path,split,pattern\na.png,test,x\nb.png,test,y\nc.png,train,\n")

    code = main(["train", "--data", str(csv), "--attribute", "pattern", "--out", str(tmp_path)])

    assert code == 2
    assert "no training rows for 'pattern'" in capsys.readouterr().err


def test_missing_arguments_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "x.csv"])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "required: --attribute, --out" in err


def test_train_then_evaluate_through_the_command_line(labels_csv, tmp_path, capsys):
    out = tmp_path / "models"

    assert (
        main(
            [
                "train",
                *TRAIN,
                "--data",
                str(labels_csv),
                "--attribute",
                "pattern",
                "--epochs",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        main(
            [
                "evaluate",
                "--model",
                summary["model"],
                "--data",
                str(labels_csv),
                "--attribute",
                "pattern",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)

    assert summary["model"] == str(out / "pattern" / "v0001")
    assert summary["train_images"] == 23 and summary["test_images"] == 6
    assert summary["skipped_unlabelled"] == 1 and summary["epochs"] == 2
    assert report["n"] == 6 and report["split"] == "test"
    assert report["accuracy"] == pytest.approx(summary["accuracy"])


def test_predict_prints_one_json_line_per_image(make_items, tmp_path):
    items = make_items(12)
    config = tiny_config()
    model = fit(config, items, NAMES, out_dir=tmp_path / "run").model
    uri = save_model(
        tmp_path / "models", name="pattern", model=model, label_names=NAMES, config=config
    )
    (tmp_path / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    listing = tmp_path / "list.csv"
    listing.write_text("path,product\nimages/0-0001.png,p1\nimages/broken.png,p2\n")

    done = run_module(
        "predict",
        "--model",
        str(tmp_path / "models" / "pattern"),
        "images/0-000*.png",
        str(listing),
        "nothere.jpg",
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    paths = [line["path"] for line in lines]
    assert paths == [f"images/0-000{i}.png" for i in range(10)] + [
        str(tmp_path / "images" / "0-0001.png"),
        str(tmp_path / "images" / "broken.png"),
        "nothere.jpg",
    ]
    good = lines[0]
    assert good["label"] in NAMES and set(good["scores"]) == set(NAMES)
    assert sum(good["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert good["label"] == max(good["scores"], key=good["scores"].get)
    assert "error" in lines[-2] and "not found" in lines[-1]["error"]
    assert uri.endswith("v0001")


def test_errors_from_the_module_entry_point_carry_no_traceback(tmp_path):
    done = run_module("predict", "--model", str(tmp_path / "none"), "x.png", cwd=tmp_path)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"mlcore predict: error: {tmp_path / 'none'}: no saved model there (no complete vNNNN "
        "version)"
    ]
