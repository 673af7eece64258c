"""Small synthetic data for 2-D pictures: points near a 1-D curve in the plane.

A :class:`Curve` is a smooth map ``t -> c(t)`` from an interval ``[t_min, t_max]`` into the
plane. It samples noisy points around itself and answers the geometric questions the lessons
measure against: the nearest point of the curve, the unit direction towards it, the distance to
it, and the unit tangent. Two curves are ready-made: :func:`spiral` and :func:`wave`.

Shapes: parameters ``t`` are (N,) float64; points ``x`` are (N, 2); results are float64 unless
a method says otherwise. Nothing here trains a model or draws a picture.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_GRID = 2001  # points of the dense table used to start the nearest-point search


@dataclass(frozen=True)
class Curve:
    """A smooth curve ``c(t)`` in the plane for ``t`` in ``[t_min, t_max]``.

    ``position(t)`` and ``velocity(t)`` take ``t`` (N,) and return (N, 2): the point and the
    derivative ``dc/dt``; ``acceleration(t)`` the second derivative (used to refine nearest points).
    """

    name: str
    position: Callable[[np.ndarray], np.ndarray]
    velocity: Callable[[np.ndarray], np.ndarray]
    acceleration: Callable[[np.ndarray], np.ndarray]
    t_min: float
    t_max: float

    def point(self, t) -> np.ndarray:
        """Points ``c(t)`` on the curve: ``t`` (N,) -> (N, 2) float64."""
        return self.position(self._t(t))

    def tangent(self, t) -> np.ndarray:
        """Unit tangent vectors at ``c(t)``: ``t`` (N,) -> (N, 2) float64, each of length 1."""
        v = self.velocity(self._t(t))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def trace(self, num: int = 400) -> np.ndarray:
        """``num`` points evenly spaced in ``t`` along the whole curve, (num, 2), for drawing it."""
        return self.point(np.linspace(self.t_min, self.t_max, num))

    def sample(self, n: int, noise: float = 0.0, seed: int = 0, dtype=np.float32):
        """``n`` points near the curve: ``c(t) + noise * N(0, I)`` with ``t`` uniform in the interval.

        Returns ``(x, t)``: ``x`` (n, 2) of ``dtype`` (float32 for training by default) and the
        parameters ``t`` (n,) float64 of the clean points. The same ``seed`` gives the same points.
        """
        if n < 1 or noise < 0:
            raise ValueError(f"need n >= 1 and noise >= 0, got n={n} and noise={noise}.")
        rng = np.random.default_rng(seed)
        t = rng.uniform(self.t_min, self.t_max, size=n)
        x = self.position(t) + noise * rng.standard_normal((n, 2))
        return x.astype(dtype), t

    def nearest(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The nearest point of the curve to each row of ``x`` (N, 2).

        Returns ``(t, p)``: the parameters (N,) and the points ``p = c(t)`` (N, 2), float64.
        Found by a dense table of the curve, then a few Newton steps on the squared distance.
        """
        x = self._points(x)
        grid = np.linspace(self.t_min, self.t_max, _GRID)
        table = self.position(grid)
        t = np.empty(len(x))
        for start in range(0, len(x), 2048):  # bounded memory: (chunk, _GRID) distances
            block = x[start : start + 2048]
            d2 = (table**2).sum(1)[None, :] - 2.0 * block @ table.T  # |x - c|^2 up to |x|^2
            t[start : start + 2048] = grid[np.argmin(d2, axis=1)]
        for _ in range(6):  # d/dt |c(t) - x|^2 / 2 = (c - x).v ; its derivative v.v + (c - x).a
            diff = self.position(t) - x
            v, a = self.velocity(t), self.acceleration(t)
            slope = (diff * v).sum(1)
            curvature = (v * v).sum(1) + (diff * a).sum(1)
            step = np.where(curvature > 1e-12, slope / np.maximum(curvature, 1e-12), 0.0)
            proposal = np.clip(t - step, self.t_min, self.t_max)
            closer = ((self.position(proposal) - x) ** 2).sum(1) <= (diff**2).sum(1)
            t = np.where(closer, proposal, t)  # a step that moves away is refused
        return t, self.position(t)

    def distance(self, x) -> np.ndarray:
        """Distance from each row of ``x`` (N, 2) to the curve: (N,) float64."""
        x = self._points(x)
        return np.linalg.norm(self.nearest(x)[1] - x, axis=1)

    def direction_to(self, x) -> np.ndarray:
        """Unit vectors (N, 2) from each row of ``x`` (N, 2) towards its nearest point of the curve.

        A point lying on the curve (distance below 1e-12) gets the zero vector.
        """
        x = self._points(x)
        towards = self.nearest(x)[1] - x
        length = np.linalg.norm(towards, axis=1, keepdims=True)
        return np.where(length > 1e-12, towards / np.maximum(length, 1e-12), 0.0)

    def _t(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 1:
            raise ValueError(f"t should have shape (N,), got {t.shape}.")
        return t

    @staticmethod
    def _points(x) -> np.ndarray:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x should have shape (N, 2), got {x.shape}.")
        return x


def spiral(turns: float = 1.25, inner: float = 0.3, outer: float = 1.0) -> Curve:
    """An Archimedean spiral arm whose radius grows from ``inner`` to ``outer`` over ``turns`` turns.

    ``c(t) = r(t) (cos t, sin t)`` with ``r(t) = inner + (outer - inner) t / (2 pi turns)`` and
    ``t`` in ``[0, 2 pi turns]``; it fits in the square [-1, 1]^2 for the defaults.
    """
    if turns <= 0 or not 0 <= inner < outer:
        raise ValueError(f"need turns > 0 and 0 <= inner < outer, got {turns}, {inner}, {outer}.")
    span = 2 * np.pi * turns
    k = (outer - inner) / span  # dr/dt

    def position(t):
        r = inner + k * t
        return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)

    def velocity(t):
        r = inner + k * t
        return np.stack([k * np.cos(t) - r * np.sin(t), k * np.sin(t) + r * np.cos(t)], axis=1)

    def acceleration(t):
        r = inner + k * t
        return np.stack([-2 * k * np.sin(t) - r * np.cos(t), 2 * k * np.cos(t) - r * np.sin(t)], axis=1)

    return Curve("spiral", position, velocity, acceleration, 0.0, span)


def wave(amplitude: float = 0.5, periods: float = 1.0, half_width: float = 1.0) -> Curve:
    """A sine wave ``c(t) = (t, amplitude sin(2 pi periods (t + half_width) / (2 half_width)))``.

    ``t`` runs over ``[-half_width, half_width]``; ``periods`` full periods fit in that span.
    """
    if amplitude < 0 or periods <= 0 or half_width <= 0:
        raise ValueError(f"need amplitude >= 0, periods > 0 and half_width > 0, got {amplitude}, {periods}, {half_width}.")
    w = np.pi * periods / half_width  # angular frequency in t

    def position(t):
        return np.stack([t, amplitude * np.sin(w * (t + half_width))], axis=1)

    def velocity(t):
        return np.stack([np.ones_like(t), amplitude * w * np.cos(w * (t + half_width))], axis=1)

    def acceleration(t):
        return np.stack([np.zeros_like(t), -amplitude * w * w * np.sin(w * (t + half_width))], axis=1)

    return Curve("wave", position, velocity, acceleration, -half_width, half_width)
