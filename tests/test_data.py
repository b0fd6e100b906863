"""Tests for vonedemo.data: the embedded MNIST assets, read_idx validation, batching, sources."""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
import time
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from vonedemo import data
from vonedemo.data import (
    EMBEDDED_DIR,
    SOURCES,
    DataError,
    DataUnavailableError,
    MNISTData,
    default_cache_dir,
    images_from_uint8,
    load_mnist,
    read_idx,
)

# ---------------------------------------------------------------------------- helpers


def _idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes | None = None) -> bytes:
    """An IDX file: big-endian magic, dims, then the uint8 payload (zeros by default)."""
    n = 1
    for d in dims:
        n *= d
    body = bytes(n) if payload is None else payload
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + body


def _small(n: int = 10) -> MNISTData:
    """A tiny dataset whose label i marks item i, so batches can be traced back to items."""
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28) / n
    return MNISTData(images.contiguous(), torch.arange(n, dtype=torch.int64), "toy")


# ---------------------------------------------------------------------------- assets


def test_asset_md5s_match_readme_table() -> None:
    readme = (EMBEDDED_DIR / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\|\s*(\S+\.gz)\s*\|.*\|\s*([0-9a-f]{32})\s*\|\s*$", readme, re.M))
    assert set(table) == {
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-10k-images-idx3-ubyte.gz",
        "train-10k-labels-idx1-ubyte.gz",
    }
    for name, md5 in table.items():
        assert hashlib.md5((EMBEDDED_DIR / name).read_bytes()).hexdigest() == md5, name


def test_readme_has_attribution() -> None:
    readme = (EMBEDDED_DIR / "README.md").read_text(encoding="utf-8")
    for needle in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0"):
        assert needle in readme


# ---------------------------------------------------------------------------- embedded loading


@pytest.mark.parametrize(
    ("split", "first_labels"),
    [
        # The first official labels of each split: proves the files are real MNIST in order.
        ("train", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
        ("test", [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
    ],
)
def test_embedded_split(split: str, first_labels: list[int]) -> None:
    ds = load_mnist(split)
    assert len(ds) == 10000
    assert ds.name == f"embedded/{split}"
    assert ds.images.shape == (10000, 1, 28, 28)
    assert ds.images.dtype == torch.float32
    assert ds.images.is_contiguous()
    assert ds.labels.shape == (10000,)
    assert ds.labels.dtype == torch.int64
    assert ds.labels[:10].tolist() == first_labels
    # Exactly [0, 1], and every pixel is k/255 for an integer k.
    assert ds.images.min().item() == 0.0
    assert ds.images.max().item() == 1.0
    assert torch.equal((ds.images * 255).round() / 255, ds.images)
    counts = torch.bincount(ds.labels, minlength=10)
    assert counts.numel() == 10
    assert int(counts.min()) >= 800 and int(counts.max()) <= 1200, counts.tolist()
    # Digits are mostly background: mean intensity of MNIST is about 0.13.
    assert 0.10 < ds.images.mean().item() < 0.16


def test_train_and_test_differ() -> None:
    assert not torch.equal(load_mnist("train").images[:100], load_mnist("test").images[:100])


def test_repeat_load_is_fast_and_returns_fresh_tensors() -> None:
    first = load_mnist("test")
    first.images.zero_()  # must not corrupt the in-process cache
    start = time.perf_counter()
    for _ in range(5):
        again = load_mnist("test")
    elapsed = time.perf_counter() - start
    assert again.images.max().item() == 1.0
    assert elapsed < 1.0, f"5 cached loads took {elapsed:.2f}s"


def test_limit_and_subset() -> None:
    full = load_mnist("test")
    part = load_mnist("test", limit=37)
    assert len(part) == 37
    assert torch.equal(part.images, full.images[:37])
    assert torch.equal(part.labels, full.labels[:37])
    assert len(load_mnist("test", limit=10**6)) == 10000

    sub = full.subset(5)
    assert len(sub) == 5 and sub.name == full.name
    assert torch.equal(sub.labels, full.labels[:5])
    assert full.subset(None) is full
    assert len(full.subset(20000)) == 10000
    for bad in (0, -3):
        with pytest.raises(ValueError):
            full.subset(bad)
        with pytest.raises(ValueError):
            load_mnist("test", limit=bad)


def test_unknown_split_and_source() -> None:
    with pytest.raises(ValueError) as info:
        load_mnist("test", source="bogus")
    assert "embedded" in str(info.value) and "full" in str(info.value)
    assert SOURCES == ("embedded", "full")
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")  # type: ignore[arg-type]


def test_images_from_uint8() -> None:
    x = torch.tensor([0, 1, 128, 255], dtype=torch.uint8).repeat(196).view(1, 28, 28)
    y = images_from_uint8(x)
    assert y.shape == (1, 1, 28, 28) and y.dtype == torch.float32
    expected = torch.tensor([0.0, 1.0, 128.0, 255.0]) / 255
    assert torch.equal(y[0, 0, 0, :4], expected)
    assert y[0, 0, 0, 3].item() == 1.0
    with pytest.raises(ValueError):
        images_from_uint8(x.float())


# ---------------------------------------------------------------------------- batching


def test_batches_cover_every_item_once() -> None:
    ds = _small(10)
    batches = list(ds.batches(3))
    assert [len(lbl) for _, lbl in batches] == [3, 3, 3, 1]
    assert ds.num_batches(3) == 4
    assert torch.cat([lbl for _, lbl in batches]).tolist() == list(range(10))
    for img, lbl in batches:
        # Images travel with their labels.
        assert torch.equal(img[:, 0, 0, 0] * 10, lbl.float())

    shuffled = list(ds.batches(4, shuffle=True, seed=1))
    order = torch.cat([lbl for _, lbl in shuffled]).tolist()
    assert sorted(order) == list(range(10))
    assert order != list(range(10))
    for img, lbl in shuffled:
        assert torch.equal(img[:, 0, 0, 0] * 10, lbl.float())


def test_drop_last() -> None:
    ds = _small(10)
    batches = list(ds.batches(3, drop_last=True))
    assert [len(lbl) for _, lbl in batches] == [3, 3, 3]
    assert ds.num_batches(3, drop_last=True) == 3
    shuffled = list(ds.batches(3, shuffle=True, seed=5, drop_last=True))
    assert len(shuffled) == 3 and all(len(lbl) == 3 for _, lbl in shuffled)
    assert len(set(torch.cat([lbl for _, lbl in shuffled]).tolist())) == 9
    # Exact multiple: drop_last changes nothing.
    assert _small(9).num_batches(3, drop_last=True) == _small(9).num_batches(3) == 3
    with pytest.raises(ValueError):
        ds.num_batches(0)
    with pytest.raises(ValueError):
        next(ds.batches(0))


def test_shuffle_is_seeded_and_leaves_global_rng_alone() -> None:
    ds = load_mnist("test", limit=500)

    def order(seed: int) -> list[int]:
        return torch.cat([lbl for _, lbl in ds.batches(64, shuffle=True, seed=seed)]).tolist()

    def index_order(seed: int) -> list[int]:
        toy = _small(500)
        return torch.cat([lbl for _, lbl in toy.batches(64, shuffle=True, seed=seed)]).tolist()

    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = order(7)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)  # a different global state must not change the order
    b = order(7)
    assert a == b
    assert index_order(7) == index_order(7)
    assert index_order(7) != index_order(8)
    # Pinned so a change in how shuffling works (which would silently change results) is noticed.
    expected = torch.randperm(500, generator=torch.Generator().manual_seed(7))[:5].tolist()
    assert index_order(7)[:5] == expected


def test_mnistdata_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        MNISTData(torch.zeros(3, 1, 28, 28), torch.zeros(4, dtype=torch.int64), "bad")


# ---------------------------------------------------------------------------- read_idx


def test_read_idx_roundtrip_raw_and_gz(tmp_path: Path) -> None:
    payload = bytes(i % 256 for i in range(2 * 784))
    blob = _idx_bytes(0x803, (2, 28, 28), payload)
    raw = tmp_path / "imgs-idx3-ubyte"
    raw.write_bytes(blob)
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(blob))
    for p in (raw, gz, str(gz)):
        t = read_idx(p)
        assert t.dtype == torch.uint8 and t.shape == (2, 28, 28)
        assert bytes(t.flatten().tolist()) == payload
    labels = tmp_path / "labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(0x801, (3,), bytes([1, 9, 0])))
    assert read_idx(labels).tolist() == [1, 9, 0]


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("wrongmagic-idx1-ubyte", _idx_bytes(0x802, (3, 28, 28)), "magic"),
        ("truncated-idx3-ubyte", _idx_bytes(0x803, (2, 28, 28))[:-10], "truncated"),
        ("truncated-header-idx3-ubyte", _idx_bytes(0x803, (2, 28, 28))[:9], "truncated"),
        ("trailing-idx1-ubyte", _idx_bytes(0x801, (4,)) + b"\x00\x01", "trailing"),
        ("smallimgs-idx3-ubyte", _idx_bytes(0x803, (2, 27, 28)), "27x28"),
        ("empty-idx1-ubyte", b"", "short"),
        ("notgzip-idx1-ubyte.gz", _idx_bytes(0x801, (4,)), "gzip"),
        ("badgzip-idx1-ubyte.gz", gzip.compress(_idx_bytes(0x801, (400,)))[:-12], "gzip"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path: Path, name: str, content: bytes, why: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert name in str(info.value)
    assert why in str(info.value)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothere-idx1-ubyte"):
        read_idx(tmp_path / "nothere-idx1-ubyte")


def test_embedded_label_count_mismatch_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(0x803, (3, 28, 28)))
    )
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(0x801, (2,), bytes([1, 2])))
    )
    monkeypatch.setattr(data, "EMBEDDED_DIR", tmp_path)
    data._load_uint8.cache_clear()
    try:
        with pytest.raises(DataError, match="3 images but 2 labels"):
            load_mnist("test")
        (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(_idx_bytes(0x801, (3,), bytes([1, 2, 10])))
        )
        with pytest.raises(DataError, match=r"0\.\.9"):
            load_mnist("test")
    finally:
        data._load_uint8.cache_clear()


# ---------------------------------------------------------------------------- full source


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VONEDEMO_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("VONEDEMO_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "vonedemo"


@pytest.mark.parametrize("error", [URLError("no network"), RuntimeError("Error downloading\nx")])
def test_full_source_offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: Exception
) -> None:
    import torchvision.datasets

    calls: list[dict] = []

    def fail(**kwargs: object) -> None:
        calls.append(kwargs)
        print("Downloading ...")  # torchvision chatter must not leak out
        raise error

    monkeypatch.setattr(torchvision.datasets, "MNIST", fail)
    monkeypatch.setenv("VONEDEMO_CACHE", str(tmp_path))
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("train", source="full")
    msg = str(info.value)
    assert "\n" not in msg
    assert "embedded" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert calls and calls[0]["root"] == str(tmp_path) and calls[0]["train"] is True


def test_full_source_uses_torchvision_tensors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torchvision.datasets

    class FakeMNIST:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            assert download is True
            print("Downloading fake")
            n = 6 if train else 4
            self.data = torch.full((n, 28, 28), 255 if train else 51, dtype=torch.uint8)
            self.targets = torch.arange(n) % 10

        def __getitem__(self, i: int) -> None:  # per-item access would be slow: forbid it
            raise AssertionError("load_mnist must use .data/.targets")

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    root = tmp_path / "somewhere"
    try:
        test = load_mnist("test", source="full", root=root)
        train = load_mnist("train", source="full", root=root, limit=5)
    finally:
        data._load_uint8.cache_clear()
    assert capsys.readouterr().out == ""
    assert test.name == "full/test" and len(test) == 4
    assert test.images.shape == (4, 1, 28, 28) and test.images.dtype == torch.float32
    assert torch.allclose(test.images, torch.full_like(test.images, 0.2))
    assert test.labels.dtype == torch.int64 and test.labels.tolist() == [0, 1, 2, 3]
    assert train.name == "full/train" and len(train) == 5
    assert train.images.max().item() == 1.0
