import numpy as np
import pytest

from aelib import data


def test_digits_split():
    d = data.load("digits")
    assert d.x_train.shape == (1438, 64) and d.x_test.shape == (359, 64)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.x_train.min() >= 0 and d.x_train.max() <= 1 and d.x_train.max() == 1
    assert d.image_shape == (8, 8) and d.num_features == 64
    assert set(np.unique(d.y_test)) == set(range(10))


def test_split_is_fixed_and_disjoint():
    a, b = data.load(), data.load()
    np.testing.assert_array_equal(a.x_test, b.x_test)
    other = data.load(seed=1)
    assert not np.array_equal(a.x_test, other.x_test)
    train_rows = {row.tobytes() for row in a.x_train}
    overlap = sum(row.tobytes() in train_rows for row in a.x_test)
    assert overlap < 5  # the digits data set itself holds a handful of duplicate images


def test_bad_requests():
    with pytest.raises(ValueError, match="known data sets: digits"):
        data.load("cifar")
    with pytest.raises(ValueError, match="test_fraction"):
        data.load(test_fraction=1.5)
