"""Data sets for the course.

``load("digits")`` is the offline default: scikit-learn's 1,797 handwritten digits, 8x8 pixels,
shipped inside scikit-learn, scaled to [0, 1] and split into train and test with a fixed seed.

``load("mnist")`` and ``load("fashion-mnist")`` are opt-in: 70,000 images of 28x28 pixels each,
with their publishers' split into 60,000 training and 10,000 test images. The first call downloads
four gzip files with `pooch <https://www.fatiando.org/pooch>`_, checks each against its publisher's
SHA-256 checksum and keeps it in a cache folder; later calls read the cache and need no network.
The cache folder is ``$AELIB_DATA_DIR/<name>/`` where that variable is set, else
``data_dir()/<name>/`` (the operating system's user cache, e.g. ``~/.cache/aelib``). Offline, put
the four files there by hand; with nothing cached and no network, ``load`` raises
:class:`DataUnavailableError` naming the files and the folder (it never waits longer than
``TIMEOUT`` seconds for a server).
"""

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("digits", "mnist", "fashion-mnist")
ENV_VAR = "AELIB_DATA_DIR"
TIMEOUT = 10.0  # seconds to wait for a server before trying the next mirror


@dataclass(frozen=True)
class Dataset:
    """A train/test split of flattened images.

    ``x_train``: (N_train, D) float32 in [0, 1]; ``y_train``: (N_train,) int64 class labels;
    ``x_test``, ``y_test`` likewise; ``image_shape``: (H, W) with H * W == D.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]

    @property
    def num_features(self) -> int:
        """D, the length of one flattened image."""
        return self.x_train.shape[1]


class DataUnavailableError(RuntimeError):
    """A data set is neither in the cache nor downloadable; the message says which files to put where."""


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file (or not the one expected)."""


# ----------------------------------------------------------------------------------------------
# IDX files: the format of MNIST and Fashion-MNIST.
#
# Header: two zero bytes, one byte for the element type, one byte for the number of dimensions
# ndim, then ndim sizes as big-endian unsigned 32-bit integers; then the elements, row-major and
# big-endian. The first four bytes read as one big-endian integer are the "magic number":
# 2049 (0x0801) for a vector of uint8 labels, 2051 (0x0803) for a stack of uint8 images.

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
LABELS_MAGIC, IMAGES_MAGIC = 0x0801, 0x0803


def parse_idx(raw: bytes, *, magic: int | None = None, source: str = "the data") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array of its shape and type.

    ``magic``: the magic number required (``LABELS_MAGIC``, ``IMAGES_MAGIC``), or ``None`` for
    any valid one. Raises :class:`IDXFormatError` saying what is wrong (bad magic number, unknown
    type, truncated data, trailing bytes). Multi-byte types come back in native byte order.
    """
    if len(raw) < 4:
        raise IDXFormatError(f"{source} is {len(raw)} bytes long, too short for an IDX header (4 bytes at least).")
    found = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise IDXFormatError(
            f"{source} does not start with an IDX magic number (got 0x{found:08x}; expected 0x0000TTNN with a "
            f"type byte TT in {{{', '.join(f'{t:02x}' for t in IDX_TYPES)}}} and NN >= 1 dimensions). "
            "Is it an HTML error page or a file of another format?"
        )
    if magic is not None and found != magic:
        raise IDXFormatError(f"{source} has magic number {found} (0x{found:08x}), but {magic} (0x{magic:08x}) was "
                             "expected: labels and images swapped?")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{source} ends inside its header: {ndim} sizes need {header} bytes, the file has {len(raw)}.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise IDXFormatError(f"{source} is truncated: shape {shape} of {dtype.name} needs {expected} bytes of data, "
                             f"the file holds {got}. Download it again.")
    if got > expected:
        raise IDXFormatError(f"{source} has {got - expected} bytes after the data its header announces "
                             f"(shape {shape}); it is not a valid IDX file.")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path, *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not (told by its first bytes), with :func:`parse_idx`."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise IDXFormatError(f"{path} is a damaged gzip file ({err}). Delete it and download it again.") from err
    return parse_idx(raw, magic=magic, source=str(path))


# ----------------------------------------------------------------------------------------------
# Downloads


@dataclass(frozen=True)
class Remote:
    """Where a data set's files come from: mirrors tried in order, and file name -> SHA-256 checksum."""

    title: str
    mirrors: tuple[str, ...]
    files: dict
    home: str


# The publishers' files; the checksums are of the gzip files as served.
_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
REMOTES = {
    "mnist": Remote(
        title="MNIST",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        files=dict(zip(_MNIST_FILES, (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))),
        home="https://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": Remote(
        title="Fashion-MNIST",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        files=dict(zip(_MNIST_FILES, (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"))),
        home="https://github.com/zalandoresearch/fashion-mnist",
    ),
}


def data_dir() -> Path:
    """The cache root: ``$AELIB_DATA_DIR`` if set, else the user cache folder for ``aelib``."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    import pooch

    return Path(pooch.os_cache("aelib"))


def sha256(path) -> str:
    """SHA-256 checksum of the file at ``path``, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _short(err: Exception) -> str:
    """One line about a failed download: the exception's type and the start of its message."""
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text[:160]}"


def _fetch(remote: Remote, file: str, folder: Path, dead: dict) -> tuple[Path | None, str]:
    """Path of ``file`` in ``folder``, downloaded first if needed; (None, why) if that failed.

    ``dead`` maps mirrors that could not be reached to the reason; they are not tried again, so
    with no network the whole data set fails after at most one timeout per mirror.
    """
    path = folder / file
    expected = remote.files[file]
    if path.is_file() and sha256(path) == expected:
        return path, ""  # cached: no network, no pooch
    import pooch
    import requests

    reasons = []
    if path.is_file():
        reasons.append(f"the file there has sha256 {sha256(path)}, not the publisher's")
    downloader = pooch.HTTPDownloader(timeout=TIMEOUT, progressbar=False)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch announces each download on stderr; notebooks stay quiet
    try:
        for mirror in remote.mirrors:
            if mirror in dead:
                continue
            try:
                got = pooch.retrieve(mirror + file, known_hash=f"sha256:{expected}", fname=file, path=folder,
                                     downloader=downloader, progressbar=False)
                return Path(got), ""
            except (requests.ConnectionError, requests.Timeout) as err:
                dead[mirror] = _short(err)
            except Exception as err:  # an HTTP error or a checksum mismatch: try the next mirror
                reasons.append(f"{mirror}: {_short(err)}")
    finally:
        logger.setLevel(level)
    return None, "; ".join(reasons)


def _load_remote(name: str) -> Dataset:
    remote = REMOTES[name]
    folder = data_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    paths, failures, dead = {}, [], {}
    for file in remote.files:
        path, why = _fetch(remote, file, folder, dead)
        if path is None:
            failures.append((file, why))
        else:
            paths[file] = path
    if failures:
        listing = "\n".join(f"  {file}  sha256 {remote.files[file]}" + (f"  ({why})" if why else "")
                            for file, why in failures)
        unreachable = "".join(f"\n  {mirror} could not be reached: {why}" for mirror, why in dead.items())
        raise DataUnavailableError(
            f"{remote.title} is not cached and could not be downloaded. Put these files into {folder}/ "
            f"(from {remote.home} or a mirror), or set {ENV_VAR} to a folder that holds {name}/ with them:\n"
            f"{listing}{unreachable}\n"
            "The digits data set, load('digits'), needs no download."
        )
    splits = []
    for prefix in ("train", "t10k"):
        images = read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"], magic=IMAGES_MAGIC)
        labels = read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"], magic=LABELS_MAGIC)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise IDXFormatError(f"{remote.title} {prefix}: {images.shape} images do not match {labels.shape} labels.")
        splits += [(images.reshape(len(images), -1) / np.float32(255)).astype(np.float32), labels.astype(np.int64)]
    return Dataset(name, *splits, image_shape=tuple(int(s) for s in images.shape[1:]))


# ----------------------------------------------------------------------------------------------


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    """Shuffle with ``seed`` and cut off the last ``test_fraction`` of the rows as the test set."""
    order = np.random.default_rng(seed).permutation(len(x))
    num_test = int(round(test_fraction * len(x)))
    train, test = order[num_test:], order[:num_test]
    return x[train], y[train], x[test], y[test]


def _load_digits(test_fraction: float, seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # pixel values 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    return Dataset("digits", *_split(x, y, test_fraction, seed), image_shape=(8, 8))


def load(name: str = "digits", *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Load data set ``name`` (one of ``DATASETS``) as a :class:`Dataset`.

    ``digits``: the split is the same on every call with the same ``seed``; ``test_fraction`` of
    the images (default 20%) are held out for testing. ``mnist`` and ``fashion-mnist``: the
    publishers' split (60,000 training and 10,000 test images of 28x28 pixels), downloaded once
    and cached (see the module's docstring); ``test_fraction`` and ``seed`` do not apply.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}.")
    if name == "digits":
        return _load_digits(test_fraction, seed)
    if name in REMOTES:
        return _load_remote(name)
    raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}.")


# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sample_photographs() -> tuple:
    """scikit-learn's two sample photographs as grey levels in [0, 1] (float64, read-only; decoded once)."""
    from sklearn.datasets import load_sample_images

    images = tuple(image.astype(np.float64).mean(axis=2) / 255.0 for image in load_sample_images().images)
    for image in images:
        image.setflags(write=False)
    return images


def natural_patches(num_patches: int = 5000, size: int = 8, *, seed: int = 0, whiten: bool = True,
                    epsilon: float = 0.1) -> np.ndarray:
    """Square grey-level patches cut at random from scikit-learn's two sample photographs (offline).

    The photographs (``sklearn.datasets.load_sample_images``: a Chinese temple and a flower, 427x640
    RGB) ship inside scikit-learn. Each is turned to grey levels in [0, 1]; ``num_patches`` patches
    of ``size`` x ``size`` pixels are drawn uniformly at random (half from each image, fixed by
    ``seed``) and each patch's mean is removed. With ``whiten`` (the default) the patches are
    ZCA-whitened, ``x <- x U diag(1 / sqrt(s + epsilon)) U^T`` with ``U, s`` the eigenvectors and
    eigenvalues of their covariance: this flattens the photographs' falling spatial spectrum (it
    decorrelates neighbouring pixels) while staying as close as possible to the original pixels.
    ``epsilon`` keeps the weakest directions (pixel noise, and the zero-variance direction left by
    removing each patch's mean) from being blown up. The default 0.1 is a strong regulariser for
    these patches (their pixel variance is about 0.007, their largest eigenvalue about 0.08): the
    spectrum is flattened only partly (neighbour correlation about 0.44 instead of 0.51), which
    suits short training runs; ``epsilon`` near 1e-4 decorrelates fully.
    Returns (num_patches, size * size) float32.
    """
    if num_patches < 1 or size < 1:
        raise ValueError(f"num_patches and size must be positive, got {num_patches} and {size}.")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0 (the mean-free patches have a zero-variance direction), got {epsilon}.")
    images = _sample_photographs()
    if any(size > min(image.shape) for image in images):
        raise ValueError(f"size {size} is larger than the photographs ({images[0].shape}).")
    rng = np.random.default_rng(seed)
    counts = [num_patches // 2, num_patches - num_patches // 2]
    patches = []
    for image, count in zip(images, counts):
        rows = rng.integers(0, image.shape[0] - size + 1, count)
        cols = rng.integers(0, image.shape[1] - size + 1, count)
        patches += [image[r:r + size, c:c + size].ravel() for r, c in zip(rows, cols)]
    x = np.stack(patches)[rng.permutation(num_patches)]
    x -= x.mean(axis=1, keepdims=True)
    if whiten:
        covariance = x.T @ x / len(x)
        s, u = np.linalg.eigh(covariance)
        x = x @ (u / np.sqrt(np.clip(s, 0, None) + epsilon)) @ u.T
    return x.astype(np.float32)
