import numpy as np
import pytest

from aelib.gradcheck import numerical_gradient, relative_error


def test_quadratic_gradient():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    numeric = numerical_gradient(lambda v: v @ A @ v, x)
    assert relative_error(numeric, (A + A.T) @ x) < 1e-9


def test_input_restored_and_matrix_shapes():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    saved = x.copy()
    grad = numerical_gradient(lambda m: np.sum(m ** 3), x)
    np.testing.assert_array_equal(x, saved)
    np.testing.assert_allclose(grad, 3 * saved ** 2, rtol=1e-6, atol=1e-6)


def test_relative_error_scale():
    a = np.array([1.0, 2.0])
    assert relative_error(a, a) == 0 and relative_error(a, -a) == 1
    assert relative_error(np.zeros(2), np.zeros(2)) == 0
    with pytest.raises(ValueError, match="equal shapes"):
        relative_error(a, np.ones(3))


def test_refuses_integer_arrays():
    with pytest.raises(TypeError, match="floating-point"):
        numerical_gradient(lambda v: float(v.sum()), np.arange(3))
