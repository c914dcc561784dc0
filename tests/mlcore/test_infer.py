import numpy as np
import torch

from mlcore.data.images import load_image
from mlcore.infer import embed_items, predict_images, predict_items
from mlcore.models import build_model
from tests.mlcore.conftest import tiny_config


def test_embeddings_are_the_pooled_features_in_item_order(make_items, tmp_path):
    items = make_items(10)
    items.insert(3, (str(tmp_path / "missing.png"), -1))
    config = tiny_config()
    torch.manual_seed(0)
    model = build_model(config, 3).eval()

    features, positions = embed_items(model, items, config=config, batch_size=4)
    probs = predict_items(model, items, config=config, batch_size=4).probs

    assert features.shape == (10, model.num_features) and features.dtype == torch.float32
    assert positions.tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9, 10]
    logits = model.head(features)  # the head of the same features gives the same answer
    np.testing.assert_allclose(torch.softmax(logits, 1).detach().numpy(), probs, atol=1e-5)
    again, _ = embed_items(model, items, config=config, batch_size=3)
    torch.testing.assert_close(again, features, atol=1e-5, rtol=1e-5)


def test_images_in_memory_get_what_the_same_files_get(make_items):
    items = make_items(5)
    config = tiny_config(image_size=12, eval_crop_fraction=0.875)  # resize, centre-crop
    torch.manual_seed(0)
    model = build_model(config, 3).eval()

    from_files = predict_items(model, items, config=config, batch_size=2).probs
    in_memory = predict_images(model, [load_image(p) for p, _ in items], config=config)

    assert in_memory.indices.tolist() == list(range(5)) and in_memory.probs.shape == (5, 3)
    np.testing.assert_allclose(in_memory.probs, from_files, atol=1e-5)
