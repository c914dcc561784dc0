import pytest
import torch

from mlcore.models import SpatialTransformer, build_model
from tests.mlcore.conftest import tiny_config


@pytest.mark.parametrize("size", [16, 28, 96])
def test_spatial_transformer_is_the_identity_at_init(size):
    torch.manual_seed(0)
    stn = SpatialTransformer()
    x = torch.randn(3, 3, size, size)

    assert torch.equal(stn.theta(x), torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(3, 2, 3))
    torch.testing.assert_close(stn(x), x, atol=1e-4, rtol=0)  # float32 resampling error


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_lite0"])
def test_a_model_with_stn_gives_the_logits_of_the_same_model_without(arch):
    config = tiny_config(arch=arch, width=8 if arch == "resnet18" else 64, image_size=32)
    torch.manual_seed(0)
    plain = build_model(config, 3).eval()
    torch.manual_seed(0)
    wrapped = build_model(tiny_config(**{**config.__dict__, "stn": True}), 3).eval()
    x = torch.randn(4, 3, 32, 32)

    with torch.inference_mode():
        torch.testing.assert_close(wrapped(x), plain(x), atol=1e-4, rtol=1e-4)


def test_the_stn_learns_away_from_the_identity():
    stn = SpatialTransformer()
    x = torch.randn(4, 3, 16, 16)
    target = torch.roll(x, shifts=2, dims=-1)
    optimizer = torch.optim.SGD(stn.parameters(), lr=0.1)

    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(stn(x), target).backward()
        optimizer.step()

    assert not torch.allclose(stn.theta(x), torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
