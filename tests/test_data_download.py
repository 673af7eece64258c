"""MNIST and Fashion-MNIST: the IDX parser, the cache, downloads with checksums, and the offline error."""

import contextlib
import gzip
import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from aelib import data

SHARED_MNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"
needs_shared_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test files are not here ({SHARED_MNIST}): they exist for developers and CI only",
)


def idx_bytes(array: np.ndarray, type_byte: int = 0x08) -> bytes:
    """The IDX encoding of ``array`` (big-endian), written independently of the parser under test."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4"}[type_byte]
    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_split(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))


def fake_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def trust_files_in(monkeypatch, name: str, folder: Path) -> None:
    """Make the registry's checksums those of the files in ``folder`` (the real ones are not here)."""
    remote = data.REMOTES[name]
    files = {file: data.sha256(folder / file) for file in remote.files}
    monkeypatch.setitem(data.REMOTES, name, data.Remote(remote.title, remote.mirrors, files, remote.home))


def use_mirrors(monkeypatch, name: str, mirrors: tuple) -> None:
    remote = data.REMOTES[name]
    monkeypatch.setitem(data.REMOTES, name, data.Remote(remote.title, mirrors, remote.files, remote.home))


def forbid_network(monkeypatch) -> None:
    import pooch

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have been used, but a download was attempted")

    monkeypatch.setattr(pooch, "retrieve", refuse)


# ------------------------------------------------------------------------------------- parser


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip_of_written_files(tmp_path, compress):
    images, labels = fake_images(7, seed=0)
    for array, magic in ((images, data.IMAGES_MAGIC), (labels, data.LABELS_MAGIC)):
        raw = idx_bytes(array)
        path = tmp_path / f"a{array.ndim}.idx"
        path.write_bytes(gzip.compress(raw) if compress else raw)
        got = data.read_idx(path, magic=magic)
        assert got.dtype == np.uint8 and got.shape == array.shape
        np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("type_byte, dtype", [(0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32)])
def test_idx_multibyte_types_come_back_in_native_order(type_byte, dtype):
    array = (np.arange(24).reshape(2, 3, 4) * 1000 - 5000).astype(dtype)
    got = data.parse_idx(idx_bytes(array, type_byte))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("raw, magic, message", [
    (b"<html><body>Not Found</body></html>", None, "does not start with an IDX magic number"),
    (b"\x00\x00", None, "too short"),
    (idx_bytes(np.zeros((3, 2, 2), np.uint8)), data.LABELS_MAGIC, "labels and images swapped"),
    (idx_bytes(np.zeros((3, 2, 2), np.uint8))[:10], None, "ends inside its header"),
    (idx_bytes(np.zeros((3, 2, 2), np.uint8))[:-1], None, "truncated"),
    (idx_bytes(np.zeros((3, 2, 2), np.uint8)) + b"\x00", None, "after the data"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]), None, "type byte"),
])
def test_idx_errors_say_what_is_wrong(raw, magic, message):
    with pytest.raises(data.IDXFormatError, match=message):
        data.parse_idx(raw, magic=magic)


def test_a_damaged_gzip_file_is_reported(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, np.uint8)))[:-12])
    with pytest.raises(data.IDXFormatError, match="damaged gzip"):
        data.read_idx(path)


@needs_shared_mnist
def test_idx_parser_reads_the_real_mnist_test_set():
    images = data.read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz", magic=data.IMAGES_MAGIC)
    labels = data.read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", magic=data.LABELS_MAGIC)
    train_labels = data.read_idx(SHARED_MNIST / "train-labels-idx1-ubyte.gz", magic=data.LABELS_MAGIC)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and train_labels.shape == (60000,)
    # MNIST's published test-set class counts, and the decompressed files' published checksums
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert images.max() == 255 and images.min() == 0 and images[:, 0, :].max() == 0  # top rows are blank
    for file, digest in (("t10k-images-idx3-ubyte.gz", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                         ("t10k-labels-idx1-ubyte.gz", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")):
        assert hashlib.sha256(gzip.decompress((SHARED_MNIST / file).read_bytes())).hexdigest() == digest


# -------------------------------------------------------------------------------------- cache


def test_cache_folder_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv(data.ENV_VAR)
    assert "aelib" in str(data.data_dir())


@needs_shared_mnist
def test_cached_mnist_loads_without_network(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for file in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / file).write_bytes((SHARED_MNIST / file).read_bytes())
    train_images, train_labels = fake_images(50, seed=1)
    write_split(folder, "train", train_images, train_labels)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    trust_files_in(monkeypatch, "mnist", folder)
    forbid_network(monkeypatch)

    mnist = data.load("mnist")
    assert mnist.name == "mnist" and mnist.image_shape == (28, 28) and mnist.num_features == 784
    assert mnist.x_train.shape == (50, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_test.dtype == np.float32 and mnist.y_test.dtype == np.int64
    assert mnist.x_test.min() == 0 and mnist.x_test.max() == 1
    np.testing.assert_allclose(mnist.x_train, train_images.reshape(50, -1) / 255, atol=1e-7)
    np.testing.assert_array_equal(mnist.y_train, train_labels)
    assert np.bincount(mnist.y_test)[1] == 1135


def test_cached_fashion_mnist_from_written_files(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    for prefix, n, seed in (("train", 30, 2), ("t10k", 20, 3)):
        write_split(folder, prefix, *fake_images(n, seed))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    trust_files_in(monkeypatch, "fashion-mnist", folder)
    forbid_network(monkeypatch)
    fashion = data.load("fashion-mnist")
    assert fashion.x_train.shape == (30, 784) and fashion.y_test.shape == (20,)
    np.testing.assert_array_equal(fashion.y_test, fake_images(20, 3)[1])


def test_images_and_labels_of_different_lengths_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    write_split(folder, "train", fake_images(30, 0)[0], fake_images(29, 0)[1])
    write_split(folder, "t10k", *fake_images(5, 1))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    trust_files_in(monkeypatch, "mnist", folder)
    with pytest.raises(data.IDXFormatError, match="do not match"):
        data.load("mnist")


# ----------------------------------------------------------------------------------- download


@contextlib.contextmanager
def serve(folder: Path):
    """An HTTP server on localhost serving ``folder``; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_checks_checksums_then_caches(tmp_path, monkeypatch):
    published = tmp_path / "server"
    write_split(published, "train", *fake_images(40, 4))
    write_split(published, "t10k", *fake_images(10, 5))
    cache = tmp_path / "cache"
    monkeypatch.setenv(data.ENV_VAR, str(cache))
    trust_files_in(monkeypatch, "mnist", published)
    with serve(published) as url:
        # the first mirror is down: the loader moves on to the next
        use_mirrors(monkeypatch, "mnist", (f"http://127.0.0.1:{unused_port()}/", url))
        first = data.load("mnist")
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(data.REMOTES["mnist"].files)
    forbid_network(monkeypatch)  # the server is gone: the second load must come from the cache
    second = data.load("mnist")
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert first.x_train.shape == (40, 784)


def test_a_download_with_the_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    published = tmp_path / "server"
    write_split(published, "train", *fake_images(40, 4))
    write_split(published, "t10k", *fake_images(10, 5))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "cache"))
    trust_files_in(monkeypatch, "mnist", published)
    (published / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.ones(10, np.uint8))))
    with serve(published) as url:
        use_mirrors(monkeypatch, "mnist", (url,))
        with pytest.raises(data.DataUnavailableError, match="t10k-labels-idx1-ubyte.gz") as info:
            data.load("mnist")
    message = str(info.value)
    assert "SHA256" in message.upper() and "train-images" not in message  # only the bad file is listed
    assert not (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_a_wrong_cached_file_offline_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    write_split(folder, "train", *fake_images(4, 0))
    write_split(folder, "t10k", *fake_images(4, 1))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    trust_files_in(monkeypatch, "mnist", folder)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"something else")
    use_mirrors(monkeypatch, "mnist", (f"http://127.0.0.1:{unused_port()}/",))
    with pytest.raises(data.DataUnavailableError, match="not the publisher's") as info:
        data.load("mnist")
    assert "train-images-idx3-ubyte.gz" in str(info.value) and "t10k-images" not in str(info.value)


def test_a_silent_server_times_out_instead_of_hanging(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections, never answers
    try:
        monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
        monkeypatch.setattr(data, "TIMEOUT", 0.5)
        use_mirrors(monkeypatch, "fashion-mnist", (f"http://127.0.0.1:{listener.getsockname()[1]}/",))
        start = time.perf_counter()
        with pytest.raises(data.DataUnavailableError, match="could not be reached"):
            data.load("fashion-mnist")
        assert time.perf_counter() - start < 10, "one timeout per mirror, not one per file and retry"
    finally:
        listener.close()


def _online(remote) -> bool:
    host = remote.mirrors[0].split("/")[2]
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_with_nothing_cached_says_which_files_to_put_where(tmp_path, monkeypatch, name):
    """The real mirrors, for real: run only where they cannot be reached (as on CI here)."""
    remote = data.REMOTES[name]
    if _online(remote):
        pytest.skip("this machine is online: the test would download the whole data set")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(data.DataUnavailableError) as info:
        data.load(name)
    assert time.perf_counter() - start < len(remote.mirrors) * data.TIMEOUT + 5
    message = str(info.value)
    assert str(tmp_path / name) in message and data.ENV_VAR in message and "load('digits')" in message
    for file, digest in remote.files.items():
        assert file in message and digest in message


def test_unknown_names_list_every_data_set():
    with pytest.raises(ValueError, match="known data sets: digits, mnist, fashion-mnist"):
        data.load("cifar")
