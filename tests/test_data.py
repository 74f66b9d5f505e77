"""Fashion-MNIST IDX reader and image-file helpers."""
import gzip
import struct
import warnings

import numpy as np
import pytest
import torch

from cfgan import data
from cfgan.data import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_image,
    make_grid,
    read_idx,
    save_image,
    to_model_range,
    to_uint8,
)

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}


def write_idx(path, array, compress=None):
    array = np.asarray(array)
    header = bytes([0, 0, _CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    compress = str(path).endswith(".gz") if compress is None else compress
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def fake_fashion_mnist(root, n_train=6, n_test=4, seed=0, compress=True):
    rng = np.random.default_rng(seed)
    ext = ".gz" if compress else ""
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trips_types_and_shapes(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype) if dtype != np.uint8 \
        else np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = write_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), array, compress)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("compress", [True, False])
def test_load_fashion_mnist_pads_and_types(tmp_path, compress):
    arrays = fake_fashion_mnist(tmp_path, compress=compress)
    images, labels = load_fashion_mnist("train", root=tmp_path)
    assert images.shape == (6, 1, 32, 32) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.tolist() == list(range(6))
    # the 28x28 image sits in the centre of a black canvas
    np.testing.assert_array_equal(images[:, 0, 2:30, 2:30].numpy(), arrays["train"][0])
    assert images[:, :, :2].sum() == 0 and images[:, :, 30:].sum() == 0 and images[..., :2].sum() == 0
    raw, _ = load_fashion_mnist("test", root=tmp_path, pad_to=None)
    assert raw.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(raw[:, 0].numpy(), arrays["t10k"][0])
    odd, _ = load_fashion_mnist("test", root=tmp_path, pad_to=31)
    assert odd.shape[-2:] == (31, 31)
    with pytest.raises(ValueError, match="pad_to=20"):
        load_fashion_mnist("test", root=tmp_path, pad_to=20)
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation", root=tmp_path)


def test_missing_data_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist("test", root=tmp_path)
    message = str(info.value)
    assert "apt-get install -y dataset-fashion-mnist" in message and "--data" in message
    assert str(tmp_path) in message and "t10k-images-idx3-ubyte" in message


def test_bad_magic_names_the_file(tmp_path):
    fake_fashion_mnist(tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(b"\x89PNG not an idx file at all"))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz is not an IDX file: bad magic"):
        load_fashion_mnist("test", root=tmp_path)


def test_truncated_files_name_the_file(tmp_path):
    array = np.zeros((3, 28, 28), np.uint8)
    raw = write_idx(tmp_path / "raw.idx", array, compress=False)
    raw.write_bytes(raw.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"raw.idx is truncated"):
        read_idx(raw)
    gz = write_idx(tmp_path / "cut.gz", array, compress=True)
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"cut.gz is a damaged or truncated gzip file"):
        read_idx(gz)
    header_only = tmp_path / "header.idx"
    header_only.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="header.idx is a malformed IDX file"):
        read_idx(header_only)


def test_label_count_mismatch_is_reported(tmp_path):
    fake_fashion_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="should hold 6 labels"):
        load_fashion_mnist("train", root=tmp_path)


def test_model_range_conversion_is_exact():
    values = torch.arange(256, dtype=torch.uint8)
    as_float = to_model_range(values)
    assert as_float[0] == -1 and as_float[-1] == 1
    assert torch.equal(to_uint8(as_float), values)


@pytest.mark.skipif(not data.fashion_mnist_available(), reason="Fashion-MNIST not installed "
                    "(apt-get install -y dataset-fashion-mnist)")
def test_real_fashion_mnist_shapes_and_balance():
    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")
    assert train_x.shape == (60000, 1, 32, 32) and test_x.shape == (10000, 1, 32, 32)
    assert torch.bincount(train_y).tolist() == [6000] * 10
    assert torch.bincount(test_y).tolist() == [1000] * 10
    assert len(FASHION_MNIST_CLASSES) == 10
    assert train_x[:, :, :2].max() == 0  # padding is black


# -- image files -----------------------------------------------------------------------------------------
def _random_image(channels, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return to_model_range(torch.randint(0, 256, (channels, h, w), generator=g, dtype=torch.uint8))


@pytest.mark.parametrize("channels", [1, 3])
def test_save_and_load_image_round_trip_exactly(tmp_path, channels):
    image = _random_image(channels)
    path = save_image(image, tmp_path / "sub" / "x.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load_image(path, size=(12, 10), channels=channels)
    assert back.shape == (channels, 12, 10) and back.dtype == torch.float32
    assert torch.equal(back, image)


def test_load_image_converts_with_warnings_naming_the_file(tmp_path):
    path = save_image(_random_image(3, 20, 20), tmp_path / "rgb.png")
    with pytest.warns(UserWarning, match=r"rgb.png: converted RGB to grayscale; resized from 20x20 to 8x8"):
        image = load_image(path, size=8, channels=1)
    assert image.shape == (1, 8, 8) and image.min() >= -1 and image.max() <= 1
    gray = save_image(_random_image(1, 8, 8), tmp_path / "gray.png")
    with pytest.warns(UserWarning, match="gray.png: converted grayscale to RGB"):
        rgb = load_image(gray, channels=3)
    assert torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2])


def test_load_image_drops_alpha_and_reads_16_bit(tmp_path):
    from PIL import Image

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    with pytest.warns(UserWarning, match="alpha.png: dropped its alpha channel"):
        image = load_image(tmp_path / "alpha.png")
    assert image.shape == (3, 4, 4) and torch.all(image[0] == 1) and torch.all(image[1] == -1)
    deep = np.full((4, 4), 65535, np.uint16)
    deep[0, 0] = 0
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png")
    assert image.shape == (1, 4, 4) and image[0, 0, 0] == -1 and image[0, 1, 1] == 1


def test_unreadable_images_are_refused_clearly(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a picture")
    with pytest.raises(ValueError, match="broken.png is not a readable image"):
        load_image(bad)
    truncated = save_image(_random_image(1, 32, 32), tmp_path / "cut.png")
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ValueError, match="cut.png is not a readable image"):
        load_image(truncated)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        load_image(bad, channels=4)


def test_save_image_rejects_batches_and_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="make_grid"):
        save_image(torch.zeros(2, 3, 4, 4), tmp_path / "x.png")
    with pytest.raises(ValueError, match="x.notaformat"):
        save_image(torch.zeros(1, 4, 4), tmp_path / "x.notaformat")
    clipped = save_image(torch.full((1, 2, 2), 5.0), tmp_path / "clip.png")
    assert torch.all(load_image(clipped) == 1)


def test_make_grid_places_images_in_rows():
    images = torch.stack([torch.full((1, 3, 4), float(i) / 10) for i in range(5)])
    grid = make_grid(images, nrow=2, padding=1, pad_value=-1)
    assert grid.shape == (1, 3 * 3 + 4, 2 * 4 + 3)
    assert torch.all(grid[:, 1:4, 1:5] == 0.0) and torch.all(grid[:, 1:4, 6:10] == 0.1)
    assert torch.all(grid[:, 5:8, 1:5] == 0.2) and torch.all(grid[:, 9:12, 1:5] == 0.4)
    assert torch.all(grid[:, 9:12, 6:10] == -1)  # empty slot keeps the pad value
    assert make_grid(images, nrow=8).shape == (1, 3 + 2 * 2, 5 * 4 + 6 * 2)
    with pytest.raises(ValueError, match="N, C, H, W"):
        make_grid(torch.zeros(3, 4, 4))
