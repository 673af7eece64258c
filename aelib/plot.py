"""Figures for the lessons: tensors or arrays in, ``(fig, ax)`` out. Nothing here computes a model."""

import matplotlib.pyplot as plt
import numpy as np

from aelib.checks import to_numpy


def _as_images(images, image_shape) -> np.ndarray:
    """(N, H*W) or (N, H, W) -> (N, H, W)."""
    images = np.asarray(to_numpy(images, "images"), dtype=np.float64)
    if images.ndim == 3:
        return images
    if images.ndim != 2:
        raise ValueError(f"images should have shape (N, H*W) or (N, H, W), got {images.shape}.")
    if image_shape is None:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"cannot guess a square image from {images.shape[1]} pixels; pass image_shape=(H, W).")
        image_shape = (side, side)
    return images.reshape(len(images), *image_shape)


def image_grid(images, ncols: int = 10, image_shape=None, titles=None, title=None, scale: float = 1.0,
               cmap: str = "gray", symmetric: bool = False, ax=None):
    """Draw ``images`` (N, H*W) or (N, H, W) as one tiled picture, ``ncols`` per row.

    ``symmetric`` centres the colour scale on zero (for filters and differences). ``titles``
    labels each tile. Returns ``(fig, ax)``; pass ``ax`` to draw into an existing one.
    """
    tiles = _as_images(images, image_shape)
    n, h, w = tiles.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    canvas = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1), np.nan)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = tile
    if ax is None:
        fig, ax = plt.subplots(figsize=(scale * 0.6 * ncols + 0.4, scale * 0.6 * nrows + 0.4 + 0.3 * (titles is not None)))
    else:
        fig = ax.figure
    limit = np.nanmax(np.abs(canvas)) if symmetric else None
    ax.imshow(canvas, cmap="RdBu_r" if symmetric else cmap, vmin=-limit if symmetric else None, vmax=limit)
    if titles is not None:
        for i, label in enumerate(titles):
            r, c = divmod(i, ncols)
            ax.text(1 + c * (w + 1) + w / 2 - 0.5, r * (h + 1) - 0.2, str(label), ha="center", va="bottom", fontsize=8)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig, ax


def reconstructions(x, x_hat, n: int = 10, image_shape=None, labels=("input", "reconstruction")):
    """Inputs above their reconstructions: ``x`` and ``x_hat`` (N, D); shows the first ``n``.

    Returns ``(fig, axes)`` with one axis per row.
    """
    x, x_hat = to_numpy(x, "x")[:n], to_numpy(x_hat, "x_hat")[:n]
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat should have the same shape, got {x.shape} and {x_hat.shape}.")
    fig, axes = plt.subplots(2, 1, figsize=(0.6 * len(x) + 0.4, 1.8))
    for ax, rows, label in zip(axes, (x, x_hat), labels):
        image_grid(rows, ncols=len(rows), image_shape=image_shape, ax=ax)
        ax.set_title(label, fontsize=9, loc="left")
    return fig, axes


def loss_curve(history, title: str = "training", log: bool = True, ax=None):
    """Training (and validation, if recorded) loss per epoch from a ``History``. Returns ``(fig, ax)``."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3))
    else:
        fig = ax.figure
    epochs = np.arange(1, len(history.train_loss) + 1)
    ax.plot(epochs, history.train_loss, label="train")
    if history.val_loss:
        ax.plot(epochs[: len(history.val_loss)], history.val_loss, label="validation")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return fig, ax
