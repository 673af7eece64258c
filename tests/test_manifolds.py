import numpy as np
import pytest
import torch

from aelib import manifolds

CURVES = [manifolds.spiral(), manifolds.wave(), manifolds.spiral(turns=0.5, inner=0.0, outer=2.0)]


def _brute_force_distance(curve, x, num=100_001):
    table = curve.point(np.linspace(curve.t_min, curve.t_max, num))
    return np.array([np.sqrt(((table - p) ** 2).sum(1).min()) for p in x])


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_sample_shapes_dtype_and_repeatability(curve):
    x, t = curve.sample(50, noise=0.1, seed=3)
    assert x.shape == (50, 2) and x.dtype == np.float32 and t.shape == (50,)
    assert np.all((t >= curve.t_min) & (t <= curve.t_max))
    again, _ = curve.sample(50, noise=0.1, seed=3)
    other, _ = curve.sample(50, noise=0.1, seed=4)
    assert np.array_equal(x, again) and not np.array_equal(x, other)
    clean, t_clean = curve.sample(20, seed=1, dtype=np.float64)
    assert np.allclose(clean, curve.point(t_clean))


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_nearest_point_agrees_with_brute_force(curve):
    x = np.random.default_rng(0).uniform(-1.6, 1.6, (120, 2))
    assert np.allclose(curve.distance(x), _brute_force_distance(curve, x), atol=1e-6)
    on_curve = curve.point(np.linspace(curve.t_min, curve.t_max, 37))
    t, p = curve.nearest(on_curve)
    assert np.allclose(p, on_curve, atol=1e-9) and t.shape == (37,)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_direction_is_a_unit_normal_and_tangent_is_a_unit_derivative(curve):
    x = np.random.default_rng(1).uniform(-1.5, 1.5, (400, 2))
    t, p = curve.nearest(x)
    direction = curve.direction_to(x)
    assert np.allclose(np.linalg.norm(direction, axis=1), 1.0)
    assert np.allclose(x + curve.distance(x)[:, None] * direction, p, atol=1e-9)
    interior = (t > curve.t_min + 1e-6) & (t < curve.t_max - 1e-6)
    tangent = curve.tangent(t)
    assert np.allclose(np.linalg.norm(tangent, axis=1), 1.0)
    assert np.abs((direction * tangent).sum(1))[interior].max() < 1e-6  # the shortest path meets the curve at a right angle
    h = 1e-6
    t_mid = np.linspace(curve.t_min + 0.1, curve.t_max - 0.1, 9)
    chord = (curve.point(t_mid + h) - curve.point(t_mid - h)) / (2 * h)
    assert np.allclose(chord / np.linalg.norm(chord, axis=1, keepdims=True), curve.tangent(t_mid), atol=1e-6)


def test_points_on_the_curve_get_a_zero_direction_and_tensors_are_accepted():
    curve = manifolds.spiral()
    p = curve.point(np.array([1.0, 2.0]))
    assert np.allclose(curve.direction_to(p), 0.0)
    assert curve.distance(torch.tensor(p, dtype=torch.float32)).shape == (2,)
    assert curve.trace(50).shape == (50, 2)


def test_bad_input_is_refused():
    curve = manifolds.wave()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        curve.distance(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(N,\)"):
        curve.point(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        curve.sample(0)
    with pytest.raises(ValueError):
        manifolds.spiral(turns=0)
    with pytest.raises(ValueError):
        manifolds.wave(half_width=-1)
