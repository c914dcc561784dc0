import numpy as np
import torch

from mlcore.infer import embed_items, predict_items
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
