"""Data sets for the course.

``load("digits")`` is the offline default: scikit-learn's 1,797 handwritten digits, 8x8 pixels,
shipped inside scikit-learn, scaled to [0, 1] and split into train and test with a fixed seed.
"""

from dataclasses import dataclass

import numpy as np

DATASETS = ("digits",)


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

    The split is the same on every call with the same ``seed``; ``test_fraction`` of the images
    (default 20%) are held out for testing.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}.")
    if name == "digits":
        return _load_digits(test_fraction, seed)
    raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}.")
