"""DDP on CPU: two processes, gloo backend, through fit()."""

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mlcore.train import fit
from tests.mlcore.conftest import NAMES, tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, items: list, root: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        reports = []
        result = fit(
            tiny_config(epochs=2),
            items,
            NAMES,
            out_dir=Path(root) / "run",
            progress=reports.append,
        )
        torch.save(
            {
                "model": result.model.state_dict(),
                "images": [h.images for h in result.history],
                "world_size": result.world_size,
                "reports": len(reports),
            },
            Path(root) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_train_one_model_on_halves_of_the_data(make_items, tmp_path):
    items = make_items(32)

    mp.spawn(_worker, args=(2, _free_port(), items, str(tmp_path)), nprocs=2, join=True)

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # each rank trained on its 16-image shard: 2 steps of 8 per epoch
    assert [r["images"] for r in ranks] == [[16, 16], [16, 16]]
    for key, value in ranks[0]["model"].items():
        assert torch.equal(value, ranks[1]["model"][key]), key  # gradients were all-reduced
    assert ranks[0]["reports"] > 0 and ranks[1]["reports"] == 0  # rank 0 alone reports
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt"]
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
