"""MNIST loading for vonedemo: an embedded offline copy, or the full set via torchvision.

Everything here is in-memory tensors; there is no DataLoader, because MNIST-sized data fits in
RAM and slicing tensors is both faster and deterministic.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

__all__ = [
    "EMBEDDED_DIR",
    "SOURCES",
    "DataError",
    "DataUnavailableError",
    "MNISTData",
    "default_cache_dir",
    "images_from_uint8",
    "load_mnist",
    "read_idx",
]


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names the file."""


class DataUnavailableError(RuntimeError):
    """The 'full' source could not be fetched; the message says how to proceed."""


EMBEDDED_DIR: Path = Path(__file__).parent / "assets" / "mnist"
SOURCES: tuple[str, ...] = ("embedded", "full")
SPLITS: tuple[str, ...] = ("train", "test")

_IMAGE_SIZE = 28
_NUM_CLASSES = 10
_MAGIC_LABELS = 0x00000801
_MAGIC_IMAGES = 0x00000803
_GZIP_MAGIC = b"\x1f\x8b"

# train uses the 10k subset so the wheel stays small; test is the full official test set.
_EMBEDDED_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-10k-images-idx3-ubyte.gz", "train-10k-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class MNISTData:
    """A split of MNIST held in memory.

    images: float32 [N, 1, 28, 28] in [0, 1]; labels: int64 [N]; name: e.g. "embedded/test".
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str

    def __post_init__(self) -> None:
        # Cheap shape checks only: a mismatch here would otherwise surface as a confusing
        # indexing error deep inside an attack loop.
        if self.images.ndim != 4:
            raise ValueError(
                f"{self.name}: images must be [N, C, H, W], got {tuple(self.images.shape)}"
            )
        if self.labels.ndim != 1 or self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(
                f"{self.name}: labels shape {tuple(self.labels.shape)} does not match "
                f"{self.images.shape[0]} images"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, limit: int | None) -> MNISTData:
        """The first `limit` items (all of them if None or if limit >= len); views, not copies."""
        if limit is None:
            return self
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int or None, got {type(limit).__name__}")
        if limit <= 0:
            raise ValueError(f"limit must be a positive number of items, got {limit}")
        if limit >= len(self):
            return self
        return MNISTData(self.images[:limit], self.labels[:limit], self.name)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (images, labels) batches; the last one is shorter unless drop_last. With
        ``device``, each batch is copied there as it is yielded (the data stays where it is)."""
        _check_batch_size(batch_size)
        if device is not None and torch.device(device) != self.images.device:
            for images, labels in self.batches(
                batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
            ):
                yield images.to(device), labels.to(device)
            return
        n = len(self)
        stop = (n // batch_size) * batch_size if drop_last else n
        if shuffle:
            # A private CPU generator: the order depends only on `seed` (not on the device or
            # on whatever else consumed the global RNG), and the global RNG is left untouched.
            gen = torch.Generator(device="cpu").manual_seed(seed)
            order = torch.randperm(n, generator=gen)
            for start in range(0, stop, batch_size):
                idx = order[start : start + batch_size]
                yield self.images[idx], self.labels[idx]
        else:
            for start in range(0, stop, batch_size):
                yield (
                    self.images[start : start + batch_size],
                    self.labels[start : start + batch_size],
                )

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """How many batches `batches(batch_size, drop_last=drop_last)` yields."""
        _check_batch_size(batch_size)
        n = len(self)
        return n // batch_size if drop_last else math.ceil(n / batch_size)


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def images_from_uint8(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] or [N, 1, 28, 28] -> new float32 [N, 1, 28, 28] tensor in [0, 1]."""
    if x.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 tensor, got {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected shape [N, 28, 28] or [N, 1, 28, 28], got {tuple(x.shape)}")
    # Division (not multiplication by 1/255) so 255 maps to exactly 1.0.
    return x.to(torch.float32).div_(255.0).contiguous()


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (gzipped if named .gz) of uint8 data into a uint8 tensor.

    Supports labels (magic 0x00000801, shape [N]) and images (0x00000803, shape [N, 28, 28]).
    Raises DataError naming the file if it cannot be read or is malformed in any way.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None

    # A .gz name must really be gzip; a raw IDX never starts with the gzip magic (its first two
    # bytes are zero), so sniffing it as well is safe and accepts misnamed gzip files.
    if path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC:
        if raw[:2] != _GZIP_MAGIC:
            raise DataError(f"{path}: not a gzip file (the name ends in .gz)")
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None

    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (_MAGIC_LABELS, _MAGIC_IMAGES):
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x} (expected 0x{_MAGIC_LABELS:08x} for "
            f"labels or 0x{_MAGIC_IMAGES:08x} for images)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if magic == _MAGIC_IMAGES and dims[1:] != (_IMAGE_SIZE, _IMAGE_SIZE):
        raise DataError(
            f"{path}: images are {'x'.join(map(str, dims[1:]))}, expected "
            f"{_IMAGE_SIZE}x{_IMAGE_SIZE}"
        )
    expected = header + math.prod(dims)
    if len(raw) < expected:
        raise DataError(
            f"{path}: truncated ({len(raw)} bytes, header declares {dims} needing {expected})"
        )
    if len(raw) > expected:
        raise DataError(
            f"{path}: {len(raw) - expected} unexpected trailing bytes after the declared {dims}"
        )
    # bytearray makes the buffer writable (torch warns on read-only buffers); the tensor keeps
    # it alive, so no extra copy is needed.
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).reshape(dims)


def default_cache_dir() -> Path:
    """Where the 'full' source is downloaded: $VONEDEMO_CACHE, else ~/.cache/vonedemo."""
    env = os.environ.get("VONEDEMO_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "vonedemo"


def load_mnist(
    split: Literal["train", "test"] = "test",
    *,
    source: str = "embedded",
    limit: int | None = None,
    root: str | Path | None = None,
) -> MNISTData:
    """Load an MNIST split as in-memory tensors.

    source="embedded" reads the files shipped in EMBEDDED_DIR (train = the first 10k official
    training digits, test = the official 10k test set) and ignores `root`. source="full" uses
    torchvision's MNIST under `root` (default: default_cache_dir()), downloading if needed, and
    raises DataUnavailableError if that fails. `limit` keeps only the first `limit` items.
    The decoded files are cached per process; every call returns fresh tensors, so callers may
    modify them freely.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; known sources: {', '.join(SOURCES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise TypeError(f"limit must be an int or None, got {type(limit).__name__}")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be a positive number of items, got {limit}")

    # Resolve the root before caching so a changed $VONEDEMO_CACHE is not served stale data.
    root_key = None if source == "embedded" else str(Path(root or default_cache_dir()).expanduser())
    images_u8, labels = _load_uint8(split, source, root_key)
    n = labels.shape[0] if limit is None else min(limit, labels.shape[0])
    # Converting only the kept prefix is cheap, and the fresh tensors protect the cache from
    # in-place edits by callers (attacks, requires_grad_, ...).
    return MNISTData(images_from_uint8(images_u8[:n]), labels[:n].clone(), f"{source}/{split}")


@functools.lru_cache(maxsize=8)
def _load_uint8(split: str, source: str, root_key: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded (uint8 images [N, 28, 28], int64 labels [N]) for one split; cached."""
    if source == "embedded":
        image_name, label_name = _EMBEDDED_FILES[split]
        image_path, label_path = EMBEDDED_DIR / image_name, EMBEDDED_DIR / label_name
        images, labels = read_idx(image_path), read_idx(label_path)
        where = f"{image_path} / {label_path}"
        if images.ndim != 3:
            raise DataError(f"{image_path}: expected an image file, found labels")
        if labels.ndim != 1:
            raise DataError(f"{label_path}: expected a label file, found images")
    else:
        assert root_key is not None
        images, labels = _fetch_full(split, Path(root_key))
        where = str(Path(root_key) / "MNIST" / "raw")

    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{where}: {images.shape[0]} images but {labels.shape[0]} labels")
    labels = labels.to(torch.int64)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= _NUM_CLASSES):
        raise DataError(f"{where}: labels outside 0..{_NUM_CLASSES - 1}")
    return images.contiguous(), labels


def _fetch_full(split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The full split through torchvision (which downloads it into root/MNIST/raw if needed)."""
    raw_dir = root / "MNIST" / "raw"
    hint = (
        f"Could not download or read the full MNIST data into {raw_dir}; "
        f"use --data embedded (source='embedded'), or put the four official MNIST "
        f"files in {raw_dir} and retry."
    )
    try:
        # Looked up at call time (not imported at module level) so tests can monkeypatch it and
        # importing vonedemo.data stays cheap.
        import torchvision.datasets

        # torchvision prints download messages and progress bars; this module must stay silent.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ds = torchvision.datasets.MNIST(root=str(root), train=(split == "train"), download=True)
        images = torch.as_tensor(ds.data)
        labels = torch.as_tensor(ds.targets)
    except Exception:
        # Any failure (no network, mirror down, disk full, corrupt archive) has the same remedy.
        raise DataUnavailableError(hint) from None
    if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(f"{raw_dir}: unexpected image data {images.dtype} {tuple(images.shape)}")
    return images, labels
