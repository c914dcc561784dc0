import numpy as np
import pytest
import torch
from PIL import Image

from mlcore.data.transforms import BatchAugment, BatchPrep, EvalPreset, TrainPreset


def test_presets_return_uint8_chw_of_the_configured_size():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8))

    for preset in (TrainPreset(size=24), EvalPreset(size=24), EvalPreset(size=24, crop_fraction=1)):
        out = preset(image)
        assert out.dtype == torch.uint8 and out.shape == (3, 24, 24)


def test_eval_preset_with_full_crop_keeps_an_image_of_that_size_unchanged():
    array = np.random.default_rng(1).integers(0, 255, (16, 16, 3), np.uint8)

    out = EvalPreset(size=16, crop_fraction=1.0)(Image.fromarray(array))

    assert torch.equal(out, torch.from_numpy(array).permute(2, 0, 1))


def test_batch_augment_without_crop_or_flip_is_the_identity():
    x = torch.rand(4, 3, 16, 16)
    augment = BatchAugment(size=16, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=False)

    torch.testing.assert_close(augment(x), x, atol=1e-5, rtol=0)


def test_batch_augment_flips_are_mirror_images():
    x = torch.rand(64, 3, 8, 8)
    augment = BatchAugment(size=8, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=True)

    out = augment(x, generator=torch.Generator().manual_seed(0))

    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert (same | mirrored).all()
    assert 10 < int(mirrored.sum()) < 54  # about half


@pytest.mark.parametrize("size", [12, 16])
def test_batch_augment_is_a_function_of_its_generator(size):
    x = torch.rand(8, 3, 16, 16)
    augment = BatchAugment(size=size, scale=(0.3, 1.0))

    a = augment(x, generator=torch.Generator().manual_seed(3))
    b = augment(x, generator=torch.Generator().manual_seed(3))
    c = augment(x, generator=torch.Generator().manual_seed(4))

    assert a.shape == (8, 3, size, size)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_batch_prep_normalises_to_the_given_stats():
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)

    x = BatchPrep(mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0), channels_last=True)(images)

    assert x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))
