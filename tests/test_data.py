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


def test_natural_patches_are_offline_fixed_and_whitened():
    x = data.natural_patches(3000, size=8, seed=0)
    assert x.shape == (3000, 64) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x, data.natural_patches(3000, size=8, seed=0))
    assert not np.array_equal(x, data.natural_patches(3000, size=8, seed=1))
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-5)  # each patch's mean removed (ZCA keeps it 0)
    raw = data.natural_patches(3000, size=8, seed=0, whiten=False)
    assert raw.shape == (3000, 64) and np.abs(raw).max() <= 1
    # neighbouring pixels of photographs are strongly correlated; whitening removes most of it
    def neighbour_correlation(p):
        images = p.reshape(-1, 8, 8)
        return np.corrcoef(images[:, :, :-1].ravel(), images[:, :, 1:].ravel())[0, 1]
    assert neighbour_correlation(raw) > 0.4 and neighbour_correlation(x) < neighbour_correlation(raw) - 0.05
    assert abs(neighbour_correlation(data.natural_patches(3000, epsilon=1e-4))) < 0.05
    # with a tiny epsilon the covariance is the identity on the 63 directions with variance
    eigenvalues = np.linalg.eigvalsh(np.cov(data.natural_patches(3000, epsilon=1e-6).T.astype(np.float64)))
    assert np.mean(np.abs(eigenvalues[1:] - 1.0) < 0.02) > 0.95, np.round(eigenvalues, 3)
    assert data.natural_patches(10, size=5).shape == (10, 25)


def test_natural_patches_bad_requests():
    with pytest.raises(ValueError, match="positive"):
        data.natural_patches(0)
    with pytest.raises(ValueError, match="epsilon"):
        data.natural_patches(10, epsilon=0.0)
    with pytest.raises(ValueError, match="larger than the photographs"):
        data.natural_patches(10, size=500)
