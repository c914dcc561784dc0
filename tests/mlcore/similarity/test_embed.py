import json
import random
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore.models import input_stats
from mlcore.similarity.embed import (
    Embedder,
    TripletConfig,
    TripletLoss,
    build_triplet_net,
    classifier_embedder,
    embed_decoded,
    embed_images,
    fit_triplets,
    pretrained_embedder,
    triplet_embedder,
)
from mlcore.similarity.evaluate import triplet_accuracy
from mlcore.similarity.images import decode_views
from mlcore.similarity.triplets import flip_triplets, group_triplets
from mlcore.train import fit
from mlcore.train.checkpoint import seed_everything
from tests.mlcore.conftest import NAMES, assert_same_weights, cancel_after, tiny_config
from tests.mlcore.similarity.conftest import DEVICES
from tests.support.tiny_nets import TINY_NET

ROOT = Path(__file__).resolve().parents[3]
TINY = TripletConfig(**TINY_NET, image_size=32, epochs=2, batch_size=8, lr=1e-2, progress_every=1)


def test_triplet_loss_is_a_hinge_on_squared_distances():
    a, near, far = (
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[0.0, 1.0]]),
    )
    loss = TripletLoss(margin=0.2)

    assert loss(torch.cat([a, near, far])).item() == 0.0
    assert loss(torch.cat([a, far, near])).item() == pytest.approx(2.2)


@pytest.mark.parametrize("device", DEVICES)
def test_pretrained_embedder_gives_unit_vectors_and_lists_bad_files(dresses, tmp_path, device):
    (tmp_path / "empty.png").write_bytes(b"")
    paths = [dresses.paths[0], str(tmp_path / "empty.png"), dresses.paths[1]]
    embedder = pretrained_embedder(image_size=32, device=device)

    out = embed_images(embedder, paths)

    assert out.vectors.shape == (2, 1280) and out.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, rtol=1e-5)
    assert out.indices.tolist() == [0, 2] and out.skipped[0][0] == 1


def test_a_box_crops_the_image_before_embedding(dresses):
    embedder = pretrained_embedder(image_size=32, device="cpu")
    path, box = dresses.paths[0], tuple(dresses.boxes[0])

    plain = embed_images(embedder, [path]).vectors[0]
    whole = embed_images(embedder, [path], boxes=[(0, 0, 64, 64)], margin=0.0).vectors[0]
    cropped = embed_images(embedder, [path], boxes=[box]).vectors[0]

    np.testing.assert_allclose(whole, plain, atol=1e-5)
    assert float(cropped @ plain) < 0.999


def test_classifier_embedder_uses_the_pooled_features(make_items, tmp_path):
    result = fit(tiny_config(), make_items(16), NAMES, out_dir=tmp_path / "run")

    embedder = classifier_embedder(tmp_path / "run" / "checkpoint.pt")
    out = embed_images(embedder, [p for p, _ in make_items(3, seed=5, folder="more")])

    assert embedder.dim == result.model.num_features == out.vectors.shape[1]
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_triplet_training_lowers_the_loss_and_beats_chance(more_dresses, tmp_path, device):
    train, test = more_dresses
    uris = train.paths + test.paths
    boxes = [tuple(b) for b in np.concatenate([train.boxes, test.boxes])]
    n = len(train.paths)
    held = group_triplets(test.groups, per_item=3, seed=5) + n  # 540 unseen triplets
    config = replace(TINY, epochs=4, batch_size=16, device=device)
    seed_everything(config.seed)  # the initial weights fit_triplets will start from
    untrained = Embedder(build_triplet_net(config).eval(), 32, *input_stats("resnet18"), 128, "x")
    images = decode_views(uris, size=32, mode="letterbox", boxes=boxes).images
    before = triplet_accuracy(embed_decoded(untrained, images), held)

    result = fit_triplets(
        config,
        uris,
        group_triplets(train.groups, per_item=3),
        out_dir=tmp_path,
        eval_triplets=held,
        boxes=boxes,
    )

    assert result.history[-1].loss < 0.8 * result.history[0].loss
    assert result.accuracy is not None and result.accuracy > 0.6  # chance: 0.5
    assert result.accuracy > before + 0.1


def test_resume_after_cancel_reaches_the_weights_of_an_uninterrupted_run(dresses, tmp_path):
    uris = dresses.paths[:32]
    triplets = flip_triplets(32)  # 4 steps per epoch
    seen = []
    straight = fit_triplets(
        TINY, uris, triplets, out_dir=tmp_path / "straight", progress=seen.append
    )

    first = fit_triplets(
        TINY, uris, triplets, out_dir=tmp_path / "resumed", should_cancel=cancel_after(6)
    )
    torch.manual_seed(1234)
    np.random.seed(1234)
    random.seed(1234)
    resumed = fit_triplets(
        TripletConfig.from_dict(TINY.to_dict()),
        list(uris),
        triplets.tolist(),
        out_dir=tmp_path / "resumed",
    )

    assert [(p.epoch, p.step) for p in seen] == [(e, s) for e in (1, 2) for s in (1, 2, 3, 4)]
    assert first.cancelled and first.epochs_done == 1 and first.checkpoint_path is not None
    assert resumed.resumed_from == 1 and resumed.epochs_done == 2 and not resumed.cancelled
    assert_same_weights(resumed.embedder.net, straight.embedder.net)
    assert [h.loss for h in resumed.history] == [h.loss for h in straight.history]


KILLED_RUN = """
import json, sys, time
import torch
torch.set_num_threads(1)
from mlcore.similarity.embed import TripletConfig, fit_triplets
args = json.loads(sys.argv[1])
fit_triplets(
    TripletConfig.from_dict(args["config"]), args["uris"], args["triplets"], out_dir=args["out"],
    progress=lambda p: time.sleep(0.25),
)
"""


@pytest.mark.slow
def test_resume_after_the_process_is_killed(dresses, tmp_path):
    uris = dresses.paths[:32]
    triplets = flip_triplets(32)
    config = replace(TINY, epochs=3)
    straight = fit_triplets(config, uris, triplets, out_dir=tmp_path / "straight")
    out = tmp_path / "killed"
    args = {
        "config": config.to_dict(),
        "uris": uris,
        "triplets": triplets.tolist(),
        "out": str(out),
    }
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, json.dumps(args)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.pt").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0, "the run finished before it could be killed"

    resumed = fit_triplets(config, uris, triplets, out_dir=out)

    assert 1 <= resumed.resumed_from < 3 and resumed.epochs_done == 3
    assert_same_weights(resumed.embedder.net, straight.embedder.net)


def test_a_saved_triplet_net_embeds_like_the_trained_one(dresses, tmp_path):
    result = fit_triplets(
        replace(TINY, epochs=1), dresses.paths[:16], flip_triplets(16), out_dir=tmp_path
    )

    loaded = triplet_embedder(tmp_path / "checkpoint.pt")
    a = embed_images(result.embedder, dresses.paths[16:20]).vectors
    b = embed_images(loaded, dresses.paths[16:20]).vectors

    assert loaded.dim == 128 and a.shape == (4, 128)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_unreadable_images_drop_their_triplets(dresses, tmp_path):
    uris = [*dresses.paths[:15], str(tmp_path / "missing.png")]
    triplets = flip_triplets(16)  # 1 of them names the missing image as reference ...
    involved = int((triplets == 15).any(1).sum())  # ... and some as the farther one

    result = fit_triplets(replace(TINY, epochs=1), uris, triplets, out_dir=tmp_path / "run")

    assert result.dropped_triplets == involved >= 1
    assert result.skipped[0][0].endswith("missing.png")


def test_resume_refuses_a_checkpoint_of_other_triplets(dresses, tmp_path):
    uris = dresses.paths[:16]
    fit_triplets(replace(TINY, epochs=1), uris, flip_triplets(16), out_dir=tmp_path)

    with pytest.raises(ValueError, match="different images or triplets"):
        fit_triplets(replace(TINY, epochs=1), uris, flip_triplets(16, seed=9), out_dir=tmp_path)
    with pytest.raises(ValueError, match="margin changed"):
        fit_triplets(replace(TINY, epochs=1, margin=0.5), uris, flip_triplets(16), out_dir=tmp_path)
    assert (
        fit_triplets(
            replace(TINY, epochs=1, margin=0.5),
            uris,
            flip_triplets(16),
            out_dir=tmp_path,
            resume=False,
        ).epochs_done
        == 1
    )


def test_triplets_out_of_range_are_refused(dresses, tmp_path):
    with pytest.raises(ValueError, match=r"triplets\[1\]"):
        fit_triplets(TINY, dresses.paths[:4], [(0, 1, 2), (0, 1, 4)], out_dir=tmp_path)
