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


def model_diagram(layers, arrows=None, code: int | None = None, title: str | None = None, ax=None):
    """A block diagram of a model: one box per stage, left to right, with labelled arrows.

    ``layers`` is a list of ``(label, size)``: ``size`` an int draws a bar whose height grows
    with the layer's width (the shape of an hourglass shows at a glance); ``size`` None draws a
    small box for an operation (noise, a mask, a loss). ``arrows`` (one label per gap, ``None``
    or ``""`` for none) names what maps one stage to the next, e.g. ``"W_enc, σ"``. ``code``
    is the index of the code layer, drawn in another colour. Returns ``(fig, ax)``.
    """
    layers = [(str(label), size) for label, size in layers]
    if not layers:
        raise ValueError("model_diagram needs at least one layer.")
    arrows = list(arrows) if arrows is not None else [""] * (len(layers) - 1)
    if len(arrows) != len(layers) - 1:
        raise ValueError(f"give one arrow label per gap: {len(layers) - 1} for {len(layers)} layers, got {len(arrows)}.")
    if code is not None and not 0 <= code < len(layers):
        raise ValueError(f"code should index a layer (0..{len(layers) - 1}), got {code}.")
    sizes = [size for _, size in layers if size is not None]
    if any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"layer sizes should be positive integers or None, got {sizes}.")
    biggest = max(sizes, default=1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.5 * len(layers) + 0.5, 2.6))
    else:
        fig = ax.figure
    step = 1.5
    for i, (label, size) in enumerate(layers):
        x = i * step
        if size is None:
            height, width, colour, text = 0.5, 0.9, "#f3e3c3", label
        else:
            height = 0.25 + 1.75 * np.sqrt(size / biggest)
            width, colour, text = 0.35, "#f2b880" if i == code else "#9cc3e6", f"{label}\n{size}"
        ax.add_patch(plt.Rectangle((x - width / 2, -height / 2), width, height, facecolor=colour, edgecolor="#333"))
        ax.text(x, -1.15 if size is not None else 0, text, ha="center", va="top" if size is not None else "center",
                fontsize=8)
    for i, label in enumerate(arrows):
        ax.annotate("", xy=(i * step + step - 0.5, 0), xytext=(i * step + 0.5, 0),
                    arrowprops=dict(arrowstyle="->", color="#333"))
        if label:
            ax.text(i * step + step / 2, 0.12, label, ha="center", va="bottom", fontsize=8)
    ax.set_xlim(-0.8, (len(layers) - 1) * step + 0.8)
    ax.set_ylim(-1.7, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax
