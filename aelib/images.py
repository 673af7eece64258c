"""Flattened images and image batches: reshape to (N, 1, H, W) and back, and resize.

The data sets store images flattened, ``(N, H*W)``; convolutions want ``(N, C, H, W)``. The 8x8
digits are small for convolutions and patches, so lessons 06 and 07 enlarge them to 16x16 with
:func:`resize` (bilinear interpolation adds no detail, it only gives the layers room).
"""

import numpy as np
import torch
from torch.nn import functional as F

from aelib.checks import as_float_tensor


def to_batch(x, image_shape) -> torch.Tensor:
    """Flattened images ``x`` (N, H*W) as a tensor (N, 1, H, W); a (N, 1, H, W) input is returned as is."""
    x = as_float_tensor(x, "x")
    height, width = (int(s) for s in image_shape)
    if x.dim() == 4 and tuple(x.shape[1:]) == (1, height, width):
        return x
    if x.dim() != 2 or x.shape[1] != height * width:
        raise ValueError(
            f"x should have shape (N, {height * width}) (flattened {height}x{width} images) or "
            f"(N, 1, {height}, {width}), but has shape {tuple(x.shape)}."
        )
    return x.reshape(-1, 1, height, width)


def resize(x, image_shape, size, mode: str = "bilinear") -> np.ndarray:
    """Resize flattened images ``x`` (N, H*W) from ``image_shape`` (H, W) to ``size`` (an int or (H', W')).

    ``mode``: "bilinear" (smooth, the default) or "nearest" (blocky). Values are clipped to the
    input's range. Returns a NumPy array (N, H'*W') float32, a new copy.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}.")
    size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be a positive int or a pair (H, W), got {size}.")
    batch = to_batch(x, image_shape).detach().cpu().float()
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(batch, size=size, mode=mode, **kwargs)
    out = out.clamp(float(batch.min()), float(batch.max())) if batch.numel() else out
    return out.reshape(len(out), -1).numpy().copy()
