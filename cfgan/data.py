"""Fashion-MNIST from IDX files, and the image-file helpers the command line uses.

Data set images come back as ``uint8`` tensors [N, 1, H, W] (4x smaller than float, exact) and are turned
into the model range [-1, 1] by ``to_model_range`` when a batch is used. Image files are read to and written
from float tensors [C, H, W] in [-1, 1], the range of every image tensor in cfgan.
"""
from __future__ import annotations

import gzip
import math
import warnings
import zlib
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from generators.files import atomic_write

FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                         'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']

#: where ``apt-get install -y dataset-fashion-mnist`` puts the files.
DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL_HINT = ("install it with `apt-get update && apt-get install -y dataset-fashion-mnist` "
                f"(files go to {DEFAULT_FASHION_MNIST_DIR}), or pass the folder holding the IDX files "
                "with `--data DIR` / `root=`")

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

PathLike = Union[str, Path]


# -- IDX -------------------------------------------------------------------------------------------------
def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into a numpy array of its declared type and shape."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path} is a damaged or truncated gzip file: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty file)'} "
                         "(expected 00 00 <type code> <number of dimensions>)")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path} is a malformed IDX file: header declares {ndim} dimensions "
                         f"but the file has only {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{path} is {what}: shape {shape} of {dtype} needs {expected} bytes, "
                         f"the file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(root: Path, stem: str) -> Optional[Path]:
    for folder in (root, root / "FashionMNIST" / "raw", root / "raw"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def fashion_mnist_files(split: str = "train", root: Optional[PathLike] = None) -> Tuple[Path, Path]:
    """Paths of the (images, labels) IDX files of a split; FileNotFoundError says how to get them."""
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else DEFAULT_FASHION_MNIST_DIR
    prefix = _SPLIT_PREFIX[split]
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find_idx(root, stem) for stem in stems]
    missing = [stem for stem, path in zip(stems, found) if path is None]
    if missing:
        raise FileNotFoundError(f"Fashion-MNIST {split} split not found in {root} (missing "
                                f"{', '.join(s + '[.gz]' for s in missing)}); {INSTALL_HINT}")
    return found[0], found[1]


def fashion_mnist_available(root: Optional[PathLike] = None) -> bool:
    try:
        fashion_mnist_files("train", root), fashion_mnist_files("test", root)
    except FileNotFoundError:
        return False
    return True


def load_fashion_mnist(split: str = "train", root: Optional[PathLike] = None,
                       pad_to: Optional[int] = 32) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST ``split`` as (images uint8 [N, 1, H, W], labels int64 [N]).

    ``pad_to`` centres the 28x28 images on a black ``pad_to`` x ``pad_to`` canvas (32 suits GANs and
    strided CNNs); ``None`` keeps 28x28. Use ``to_model_range`` to get floats in [-1, 1].
    """
    image_file, label_file = fashion_mnist_files(split, root)
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{image_file} should hold uint8 images [N, H, W], "
                         f"holds {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{label_file} should hold {images.shape[0]} labels (one per image in "
                         f"{image_file.name}), holds an array of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES)):
        raise ValueError(f"{label_file} holds labels outside 0..{len(FASHION_MNIST_CLASSES) - 1}")
    images_t = torch.from_numpy(images).unsqueeze(1)  # read_idx returns a fresh, writable array
    if pad_to is not None:
        images_t = pad_images(images_t, pad_to)
    return images_t, torch.from_numpy(labels.astype(np.int64))


def pad_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Centre [N, C, h, w] images on a zero (black) canvas of ``size`` x ``size``."""
    h, w = images.shape[-2:]
    if size < max(h, w):
        raise ValueError(f"pad_to={size} is smaller than the {h}x{w} images; use pad_to=None to keep them")
    top, left = (size - h) // 2, (size - w) // 2
    return torch.nn.functional.pad(images, (left, size - w - left, top, size - h - top))


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (floats are assumed to be in [-1, 1] already and pass through)."""
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    if not images.is_floating_point():
        raise TypeError(f"expected uint8 or float images, got {images.dtype}")
    return images


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest (exact inverse of ``to_model_range``)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


# -- image files -----------------------------------------------------------------------------------------
def _as_size(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {size}")
    return int(h), int(w)


def load_image(path: PathLike, size=None, channels: Optional[int] = None) -> torch.Tensor:
    """Read an image file as float [C, H, W] in [-1, 1].

    ``size`` (int or (H, W)) and ``channels`` (1 or 3) state what the caller needs; an image that differs is
    converted with a warning naming the file (resized with Lanczos, gray<->RGB, alpha dropped).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    target = _as_size(size)
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    try:
        with Image.open(path) as img:
            if getattr(img, "n_frames", 1) > 1:
                warnings.warn(f"{path} has {img.n_frames} frames; using the first", stacklevel=2)
            img.load()
            img = img.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path} is not a readable image: {err}") from err

    notes = []
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img, dtype=np.float64) / 65535.0
        if img.mode == "I" and array.max() > 1:
            raise ValueError(f"{path} has 32-bit integer pixels; save it as an 8- or 16-bit image")
        img = Image.fromarray(np.round(array.clip(0, 1) * 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        raise ValueError(f"{path} has floating-point pixels (mode F); save it as an 8- or 16-bit image")
    if img.mode in ("LA", "RGBA", "PA") or (img.mode == "P" and "transparency" in img.info):
        notes.append("dropped its alpha channel")
    native = 1 if img.mode in ("1", "L", "LA", "I;16", "I") else 3
    want = channels or native
    if want != native:
        notes.append("converted grayscale to RGB" if want == 3 else "converted RGB to grayscale")
    try:
        img = img.convert("L" if want == 1 else "RGB")
    except ValueError as err:
        raise ValueError(f"{path} is not a readable image: cannot convert pixel mode {img.mode}: "
                         f"{err}") from err
    if target is not None and (img.height, img.width) != target:
        notes.append(f"resized from {img.height}x{img.width} to {target[0]}x{target[1]}"
                     + (" (aspect ratio changed)"
                        if abs(img.height / img.width - target[0] / target[1]) > 1e-6 else ""))
        img = img.resize((target[1], target[0]), Image.Resampling.LANCZOS)
    if notes:
        warnings.warn(f"{path}: {'; '.join(notes)}", stacklevel=2)
    array = np.asarray(img, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return to_model_range(torch.from_numpy(array.copy()))


def save_image(image: torch.Tensor, path: PathLike) -> Path:
    """Write a float image in [-1, 1] ([C, H, W] or [1, C, H, W], C = 1 or 3) to ``path``.

    The format follows the suffix (.png, .jpg, ...); parent folders are created. Values outside [-1, 1]
    are clipped.
    """
    from PIL import Image

    path = Path(path)
    if not torch.is_tensor(image):
        raise TypeError(f"save_image expects a torch tensor, got {type(image).__name__}")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_image expects one image [C, H, W] with C = 1 or 3, got shape "
                         f"{list(image.shape)} (use make_grid for a batch)")
    array = to_uint8(image.cpu()).numpy()
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path}: unknown or unsupported image format {path.suffix or '(no suffix)'}")
    with atomic_write(path, "wb") as f:
        Image.fromarray(array).save(f, format=fmt)
    return path


def make_grid(images: Union[torch.Tensor, Sequence[torch.Tensor]], nrow: int = 8, padding: int = 2,
              pad_value: float = -1.0) -> torch.Tensor:
    """Tile [N, C, H, W] images into one [C, H', W'] image, ``nrow`` images per row."""
    if not torch.is_tensor(images):
        images = torch.stack(list(images))
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"make_grid expects a non-empty batch [N, C, H, W], got shape {list(images.shape)}")
    if nrow < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = images.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for i in range(n):
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        grid[:, top:top + h, left:left + w] = images[i]
    return grid


def load_images_for(G, paths: Sequence[PathLike]) -> torch.Tensor:
    """Image files as one batch [N, C, H, W] the generator ``G`` can reproduce (converted with a warning
    naming the file where size or channels differ), on ``G``'s device."""
    return torch.stack([load_image(p, size=G.resolution, channels=G.channels) for p in paths]).to(G.device)


def load_mask(path: PathLike, size) -> torch.Tensor:
    """A mask image as [1, 1, H, W] in {0, 1}: white (>= 50% grey) pixels count, black ones are ignored."""
    mask = load_image(path, size=size, channels=1)
    return ((mask + 1) / 2 >= 0.5).float().unsqueeze(0)


def images_classified_as(classifier, class_index: int, n: int, split: str = "test",
                         root: Optional[PathLike] = None, chunk: int = 500):
    """The first ``n`` Fashion-MNIST images labelled ``class_index`` that ``classifier`` also assigns to it:
    (images [n', 1, 32, 32] in [-1, 1], their data-set indices, how many of the class it agrees with, class size).
    Evaluations start paths from these, so a path starts where both the label and the classifier put it."""
    images, labels = load_fashion_mnist(split, root)
    idx = (labels == class_index).nonzero().flatten()
    x = to_model_range(images[idx])
    with torch.no_grad():
        pred = torch.cat([classifier(x[s:s + chunk]).argmax(1).cpu() for s in range(0, len(x), chunk)])
    keep = (pred == class_index).nonzero().flatten()[:n]
    return x[keep], idx[keep].tolist(), int((pred == class_index).sum()), len(idx)
