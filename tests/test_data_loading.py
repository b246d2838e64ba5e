"""Each loader on small real data, the cache, and the offline-download failure path."""

import gzip
import os
import pickle
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fedot.data import DATASETS, DatasetUnavailableError, ImageDataset, load_dataset, normalize
from fedot.data import cache, sources
from fedot.data.cifar_jpeg import read_cifar10_jpeg

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FEDOT_SHARED_DATA", REPO.parent / "shared" / "data"))
MNIST_DIR = SHARED_DATA / "mnist"
CIFAR_NPZ = SHARED_DATA / "cifar10-jpeg.npz"


def _write_idx(path: Path, array: np.ndarray, gzipped: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gzipped else raw)


def _fake_idx_folder(folder: Path, gzipped: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (50, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 50),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 20),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        _write_idx(folder / (stem + ".gz" if gzipped else stem), array, gzipped)
    return arrays


def test_digits_is_a_fixed_stratified_split() -> None:
    first, again = load_dataset("digits"), load_dataset("digits")
    assert (len(first.train_labels), len(first.test_labels)) == (1437, 360)
    assert first.input_shape == (1, 8, 8) and first.num_classes == 10 and not first.augment
    assert first.train_images.dtype == torch.uint8 and first.train_labels.dtype == torch.int64
    assert torch.equal(first.train_images, again.train_images) and torch.equal(first.test_labels, again.test_labels)
    assert torch.bincount(first.test_labels).min() >= 35  # every class in the test split


def test_normalize_standardises_the_training_set_and_keeps_layout() -> None:
    digits = load_dataset("digits")
    x = normalize(digits.train_images, digits.mean, digits.std)
    assert x.dtype == torch.float32 and x.shape == digits.train_images.shape
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    nhwc = digits.train_images.contiguous(memory_format=torch.channels_last)
    assert normalize(nhwc, digits.mean, digits.std).is_contiguous(memory_format=torch.channels_last)


def test_image_dataset_rejects_float_images() -> None:
    digits = load_dataset("digits")
    with pytest.raises(ValueError, match="train_images must be uint8"):
        ImageDataset("bad", digits.train_images.float(), digits.train_labels, digits.test_images,
                     digits.test_labels, digits.classes, digits.mean, digits.std)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: digits, mnist, fashion-mnist, cifar10, cifar100"):
        load_dataset("imagenet")
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"shared MNIST not found at {MNIST_DIR} (set FEDOT_SHARED_DATA)")
def test_real_mnist_from_gzipped_idx_files_then_from_cache(tmp_path: Path) -> None:
    mnist = load_dataset("mnist", MNIST_DIR, download=False, cache_dir=tmp_path)
    assert mnist.train_images.shape == (60000, 1, 28, 28) and mnist.test_images.shape == (10000, 1, 28, 28)
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(mnist.train_labels).tolist() == counts
    assert mnist.mean[0] == pytest.approx(0.1307, abs=1e-4) and mnist.std[0] == pytest.approx(0.3081, abs=1e-4)
    cached = list(tmp_path.glob("mnist-*.pt"))
    assert len(cached) == 1, "the read-only shared folder must not receive the cache"
    start = time.perf_counter()
    again = load_dataset("mnist", MNIST_DIR, download=False, cache_dir=tmp_path)
    assert time.perf_counter() - start < 3
    assert torch.equal(again.train_images, mnist.train_images) and again.classes == mnist.classes


@pytest.mark.parametrize(("name", "folder", "gzipped"), [("mnist", "MNIST", False), ("fashion-mnist", "FashionMNIST", True)])
def test_torchvision_layout_idx_files(tmp_path: Path, name: str, folder: str, gzipped: bool) -> None:
    arrays = _fake_idx_folder(tmp_path / "data" / folder / "raw", gzipped)
    dataset = load_dataset(name, tmp_path / "data", download=False, cache_dir=tmp_path / "cache")
    assert np.array_equal(dataset.train_images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(dataset.test_labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert list((tmp_path / "data" / ".fedot-cache").glob(f"{name}-*.pt")), "writable data folder keeps the cache"


def test_cache_follows_the_source_and_skips_read_only_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _fake_idx_folder(data, gzipped=False)
    data.chmod(0o555)
    try:
        first = load_dataset("mnist", data, download=False, cache_dir=tmp_path / "cache")
        assert not (data / ".fedot-cache").exists()
        data.chmod(0o755)
        changed = _fake_idx_folder(data, gzipped=False, seed=1)
        second = load_dataset("mnist", data, download=False, cache_dir=tmp_path / "cache")
    finally:
        data.chmod(0o755)
    assert len(list((tmp_path / "cache").glob("mnist-*.pt"))) == 1
    assert np.array_equal(second.train_images[:, 0].numpy(), changed["train-images-idx3-ubyte"])
    assert not torch.equal(first.train_images, second.train_images)


@pytest.mark.skipif(not CIFAR_NPZ.is_file(), reason=f"shared CIFAR-10 npz not found at {CIFAR_NPZ}")
def test_cifar10_jpeg_npz_decodes_a_subset_and_is_found() -> None:
    tensors, classes = read_cifar10_jpeg(CIFAR_NPZ, limit=64)
    assert tensors["train_images"].shape == (64, 3, 32, 32) and tensors["test_images"].shape == (64, 3, 32, 32)
    assert tensors["train_images"].dtype == torch.uint8
    with np.load(CIFAR_NPZ) as archive:
        assert np.array_equal(tensors["train_labels"].numpy(), archive["train_labels"][:64])
    assert classes[0] == "airplane" and classes[-1] == "truck"
    assert 0.3 < tensors["train_images"].float().mean().item() / 255 < 0.6
    for data_dir in (SHARED_DATA, CIFAR_NPZ):
        assert sources.find_source("cifar10", data_dir).kind == "jpeg-npz"


def test_cifar10_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar

    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    rng = np.random.default_rng(0)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    written = {}
    for name in names:
        data = rng.integers(0, 256, (4, 3 * 32 * 32), dtype=np.uint8)
        written[name] = data
        (batches / name).write_bytes(pickle.dumps({"data": data, "labels": rng.integers(0, 10, 4).tolist()}))
    (batches / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)  # fake md5s
    dataset = load_dataset("cifar10", tmp_path, download=False, cache_dir=tmp_path / "cache")
    assert dataset.train_images.shape == (20, 3, 32, 32) and dataset.test_images.shape == (4, 3, 32, 32)
    assert np.array_equal(dataset.test_images.reshape(4, -1).numpy(), written["test_batch"])  # CHW kept
    assert dataset.classes[3] == "class3" and dataset.augment


def test_offline_download_fails_fast_naming_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    with socket.socket() as closed:  # a port nobody listens on: refused at once, on any machine
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{port}/"])
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("mnist", tmp_path, cache_dir=tmp_path / "cache")
    assert time.perf_counter() - start < 10
    message = str(error.value)
    assert "the download failed" in message and str(tmp_path) in message
    assert all(stem in message for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "MNIST/raw"))


def test_stalled_download_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()  # accepts connections, never answers
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold_connections() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=hold_connections, daemon=True)
    thread.start()
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.getsockname()[1]}/"])
    monkeypatch.setattr(sources, "DOWNLOAD_TIMEOUT_S", 0.5)
    start = time.perf_counter()
    try:
        with pytest.raises(DatasetUnavailableError, match="timed out"):
            load_dataset("mnist", tmp_path, cache_dir=tmp_path / "cache")
        assert time.perf_counter() - start < 5
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def test_download_switched_off_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match=r"download=False(.|\n)*cifar-100-python"):
        load_dataset("cifar100", tmp_path, download=False, cache_dir=tmp_path / "cache")


def test_user_cache_dir_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEDOT_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.user_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("FEDOT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.user_cache_dir() == tmp_path / "xdg" / "fedot"
