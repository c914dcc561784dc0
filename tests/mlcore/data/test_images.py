import io

import numpy as np
import pytest
from PIL import Image

from mlcore.data.images import ImageError, decode_image, load_image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_grey_images_become_three_channel():
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")

    decoded = decode_image(png_bytes(grey))

    assert decoded.mode == "RGB"
    array = np.asarray(decoded)
    assert array.shape == (8, 8, 3)
    assert (array[..., 0] == np.arange(64).reshape(8, 8)).all()
    assert (array[..., 0] == array[..., 2]).all()


def test_transparent_pixels_become_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black

    decoded = decode_image(png_bytes(Image.fromarray(rgba, mode="RGBA")))

    assert (np.asarray(decoded) == 255).all()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"this is a text file", "not an image"),
        (png_bytes(Image.new("RGB", (64, 64), "red"))[:60], "decode|not an image"),
    ],
    ids=["zero-bytes", "text", "truncated-png"],
)
def test_undecodable_bytes_raise_image_error_with_a_reason(data, reason):
    with pytest.raises(ImageError, match=reason):
        decode_image(data, name="x.jpg")


def test_missing_file_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nothing.png")
