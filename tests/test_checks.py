import numpy as np
import pytest
import torch

from aelib import checks


def test_check_shape_messages():
    checks.check_shape("h", np.zeros((3, 2)), (3, None))
    with pytest.raises(AssertionError, match="transposed"):
        checks.check_shape("W", np.zeros((2, 3)), (3, 2))
    with pytest.raises(AssertionError, match="1 dimension"):
        checks.check_shape("b", np.zeros(3), (1, 3))
    with pytest.raises(AssertionError, match="forget a `return`"):
        checks.check_shape("x_hat", None, (1,))


def test_check_close_hints():
    expected = np.array([[1.0, -2.0], [0.5, 3.0]])
    checks.check_close("g", expected + 1e-9, expected)
    checks.check_close("g", torch.tensor(expected), expected)
    with pytest.raises(AssertionError, match="opposite sign"):
        checks.check_close("g", -expected, expected)
    with pytest.raises(AssertionError, match="times 2"):
        checks.check_close("g", 2 * expected, expected)
    with pytest.raises(AssertionError, match=r"index \(1, 1\)"):
        checks.check_close("g", expected + np.array([[0, 0], [0, 1.0]]), expected)
    with pytest.raises(AssertionError, match="NaN"):
        checks.check_close("g", expected * np.nan, expected)
    with pytest.raises(AssertionError) as scalar:  # one number is a multiple of any other: no guess
        checks.check_close("loss", 2.5, 1.0)
    assert "times" not in str(scalar.value) and "sign" not in str(scalar.value)


def test_check_gradient():
    numeric = np.array([0.3, -1.2, 2.0])
    checks.check_gradient("dW", numeric * (1 + 1e-10), numeric)
    with pytest.raises(AssertionError, match="relative error .* opposite sign"):
        checks.check_gradient("dW", -numeric, numeric)
    with pytest.raises(AssertionError, match="times 0.5"):
        checks.check_gradient("dW", numeric / 2, numeric)


def test_as_float_tensor():
    assert checks.as_float_tensor(np.zeros((2, 3), dtype=np.float32), ndim=2).dtype == torch.float32
    with pytest.raises(TypeError, match="not list"):
        checks.as_float_tensor([[1.0]])
    with pytest.raises(TypeError, match="astype"):
        checks.as_float_tensor(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="2 dimension"):
        checks.as_float_tensor(torch.zeros(2, 3, 4), ndim=2)


def test_calibrated_threshold_or_an_error_that_says_what_to_add():
    assert checks.calibrated("digits", {"digits": 0.015, "mnist": 0.01}) == 0.015
    with pytest.raises(KeyError, match="no threshold calibrated for the data set 'mnist'.*'digits'"):
        checks.calibrated("mnist", {"digits": 0.015})
