"""Checks that fail with a message a student can act on.

Two kinds live here:

* ``check_*`` assertions for exercise tests: they raise ``AssertionError`` whose message names
  the quantity, the numbers and, where it can tell, the likely mistake (a transposed array, a
  flipped sign, a missing factor);
* ``as_float_tensor``, the input guard the library's own functions use, which raises
  ``TypeError``/``ValueError`` saying what was expected.
"""

from collections.abc import Sequence

import numpy as np
import torch

from aelib.gradcheck import relative_error


def _shape_text(shape) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def to_numpy(value, name: str = "value") -> np.ndarray:
    """``value`` (array, tensor or scalar) as a NumPy array; a clear AssertionError for anything else."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if np.isscalar(value):
        return np.asarray(value)
    raise AssertionError(
        f"{name} should be a NumPy array (or a torch tensor), but is a {type(value).__name__}."
        + (" Did you forget a `return`?" if value is None else "")
    )


def check_shape(name: str, value, expected: Sequence) -> None:
    """Assert that ``value`` has shape ``expected``; ``None`` in ``expected`` matches any size."""
    actual = tuple(to_numpy(value, name).shape)
    expected = tuple(expected)
    fits = len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))
    if fits:
        return
    message = f"{name} should have shape {_shape_text(expected)}, but has shape {_shape_text(actual)}."
    if len(actual) == len(expected) == 2 and actual[::-1] == expected:
        message += " It looks transposed: check the order of a matrix product, or add .T."
    elif len(actual) != len(expected):
        message += f" It has {len(actual)} dimension(s) instead of {len(expected)}: check sums over an axis and reshapes."
    raise AssertionError(message)


def check_finite(name: str, value) -> None:
    """Assert that ``value`` holds no NaN or infinity."""
    array = to_numpy(value, name)
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{name} has {int(bad.sum())} NaN or infinite value(s), the first at index {index}. "
            "Look for a division by zero, a log of zero or an overflowing exp."
        )


def _mismatch_hint(actual: np.ndarray, expected: np.ndarray) -> str:
    """Name a likely mistake when ``actual`` is a simple transform of ``expected``."""
    scale = np.linalg.norm(expected)
    if scale == 0 or expected.size == 1:  # one number is always some multiple of another: no guess
        return ""
    if np.allclose(actual, -expected, rtol=1e-4, atol=1e-6 * scale):
        return " Your values have the opposite sign: check the direction of a difference (x_hat - x or x - x_hat)."
    denominator = float(np.vdot(expected, expected))
    factor = float(np.vdot(actual, expected)) / denominator
    if abs(factor) > 1e-8 and np.allclose(actual, factor * expected, rtol=1e-4, atol=1e-6 * scale):
        return (
            f" Your values are the expected ones times {factor:.4g}: look for a missing or extra constant "
            "factor (a 2 from a square, a 1/N from a mean)."
        )
    return ""


def check_close(name: str, actual, expected, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` everywhere, after checking the shape."""
    expected = np.asarray(to_numpy(expected, "the expected value"), dtype=np.float64)
    check_shape(name, actual, expected.shape)
    actual = np.asarray(to_numpy(actual, name), dtype=np.float64)
    check_finite(name, actual)
    difference = np.abs(actual - expected)
    bad = difference > atol + rtol * np.abs(expected)
    if not bad.any():
        return
    index = np.unravel_index(int(np.argmax(difference)), difference.shape)
    where = tuple(int(i) for i in index)
    raise AssertionError(
        f"{name} differs from the expected value in {int(bad.sum())} of {bad.size} entries; the largest "
        f"|difference| is {difference[index]:.3g} at index {where} (yours {actual[index]:.6g}, "
        f"expected {expected[index]:.6g})." + _mismatch_hint(actual, expected)
    )


def check_gradient(name: str, analytic, numeric, tol: float = 1e-6) -> None:
    """Assert that an analytic gradient matches a numerical one to relative error ``tol``.

    The relative error is ``||analytic - numeric|| / (||analytic|| + ||numeric||)``; a correct
    float64 gradient usually reaches 1e-9 or less, a wrong one 1e-2 or more.
    """
    numeric = np.asarray(to_numpy(numeric, "the numerical gradient"), dtype=np.float64)
    check_shape(name, analytic, numeric.shape)
    analytic = np.asarray(to_numpy(analytic, name), dtype=np.float64)
    check_finite(name, analytic)
    error = relative_error(analytic, numeric)
    if error <= tol:
        return
    raise AssertionError(
        f"{name}: relative error {error:.2e} against central differences; a correct gradient is below "
        f"{tol:.0e}." + _mismatch_hint(analytic, numeric)
    )


def as_float_tensor(x, name: str = "x", ndim: int | None = None, features: int | None = None) -> torch.Tensor:
    """Return ``x`` (NumPy array or tensor) as a floating-point tensor, or say what was wrong.

    ``ndim`` is the number of dimensions required; ``features`` the size required of the last one.
    Integer and boolean inputs are refused rather than silently converted, since they usually mean
    pixels that were never scaled to [0, 1].
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} should be a NumPy array or a torch tensor, not {type(x).__name__}.")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} has dtype {x.dtype}, but floating-point values are expected (float32 for training). "
            f"Convert it, e.g. {name}.astype(np.float32) for NumPy or {name}.float() for torch, "
            "and scale pixels to [0, 1]."
        )
    if ndim is not None and x.dim() != ndim:
        raise ValueError(
            f"{name} should have {ndim} dimension(s), but has shape {tuple(x.shape)}."
            + (" For a batch of one, add a leading axis: x[None]." if x.dim() == ndim - 1 else "")
        )
    if features is not None and x.shape[-1] != features:
        raise ValueError(
            f"{name} should have {features} features in its last dimension, but has shape {tuple(x.shape)}."
        )
    return x


def calibrated(dataset: str, thresholds: dict):
    """The grading threshold measured for ``dataset``: ``thresholds[dataset]``.

    Graded tests keep one threshold per data set, each calibrated on the reference solution and on
    known-wrong answers (README, "Another data set"). A data set nobody calibrated gets an error
    that says what to add, never a guess.
    """
    if dataset not in thresholds:
        raise KeyError(
            f"this test has no threshold calibrated for the data set {dataset!r} (only for "
            f"{', '.join(map(repr, thresholds))}); calibrate one as README's 'Another data set' "
            f"describes and add it to this test cell in solutions/."
        )
    return thresholds[dataset]


def ops_used(model, x) -> set[str]:
    """Names of the aten operations that ``model(x)`` runs (e.g. ``{"convolution", "relu", ...}``).

    Seen at torch's dispatcher, so it is the same for a layer (``nn.Conv2d``), a functional call
    (``F.conv2d``) and the grader's copy of a model: what counts is what runs, not what is declared.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: set[str] = set()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(func._schema.name.split("::")[-1])
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Record():
        model(x)
    return seen
