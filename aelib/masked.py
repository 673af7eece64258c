"""A small masked autoencoder (after He et al. 2021) and two baselines that fill in hidden patches.

The model works on images already cut into patches, ``tokens`` (N, L, P): L patches of P pixels
each. The caller chooses which patches stay visible, ``ids_keep`` (N, V) int64, and builds the
loss; the lesson's own functions cut the patches, draw the masks and score the masked patches.

* the **encoder** embeds every patch linearly, adds a learned position embedding, keeps only the
  V visible tokens and runs a small transformer over them, so its cost grows with V, not L;
* the **decoder** is lighter (narrower, shallower): it appends one shared, learned *mask token*
  per hidden patch after the V encoded visible tokens, puts the L tokens back in patch order by
  gathering with ``ids_restore`` (the inverse of the shuffle whose first V entries are
  ``ids_keep``), adds its own position embedding, runs a transformer over all L tokens and
  predicts each patch's P pixels.

Position embeddings are *learned* here (one vector per patch position, started small and
random); He et al. use fixed 2-D sine-cosine embeddings instead. With 16 positions the learned
ones are cheap and train in a few epochs.

:func:`block_masking` and :func:`grid_masking` draw the two other masking strategies He et al.
compare with random masking; both return only the mask (N, L), 1 where a patch is hidden.

After pre-training the decoder is thrown away; :meth:`MaskedAutoencoder.features` runs the
encoder on all patches of unmasked images and averages the tokens into one feature vector.
"""

import numpy as np
import torch
from torch import nn

from aelib.checks import as_float_tensor


def _transformer(dim: int, depth: int, heads: int, mlp_dim: int) -> nn.TransformerEncoder:
    """Pre-norm transformer blocks whose residual branches start at zero, so each block starts as
    the identity. On small data this escapes the early plateau (every hidden patch predicted as
    the average patch) several times sooner than the default initialisation."""
    layer = nn.TransformerEncoderLayer(dim, heads, mlp_dim, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    stack = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
    with torch.no_grad():
        for block in stack.layers:
            for last in (block.self_attn.out_proj, block.linear2):
                last.weight.zero_()
                last.bias.zero_()
    return stack


class MaskedAutoencoder(nn.Module):
    """Encoder over the visible patches, light decoder with mask tokens.

    ``num_patches`` L and ``patch_dim`` P fix the input (N, L, P). Encoder: width ``dim``,
    ``depth`` transformer blocks with ``heads`` heads and hidden size ``mlp_dim``; decoder:
    width ``decoder_dim``, ``decoder_depth`` blocks, ``decoder_heads`` heads. ``seed`` makes the
    initial weights repeatable without touching the global random state. ``tokens`` must be on
    the model's device; ``ids_keep`` (an array, or a tensor on any device) is moved there.
    """

    def __init__(self, num_patches: int, patch_dim: int, dim: int = 32, depth: int = 1, heads: int = 4,
                 mlp_dim: int = 64, decoder_dim: int = 16, decoder_depth: int = 1, decoder_heads: int = 1,
                 seed: int | None = None):
        super().__init__()
        if min(num_patches, patch_dim, dim, depth, heads, decoder_dim, decoder_depth, decoder_heads) < 1:
            raise ValueError("all sizes of a MaskedAutoencoder must be positive.")
        if dim % heads or decoder_dim % decoder_heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads}) and decoder_dim "
                             f"({decoder_dim}) by decoder_heads ({decoder_heads}).")
        self.num_patches, self.patch_dim, self.dim = int(num_patches), int(patch_dim), int(dim)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.patch_embed = nn.Linear(patch_dim, dim)
            self.pos_embed = nn.Parameter(0.02 * torch.randn(1, num_patches, dim))
            self.encoder = _transformer(dim, depth, heads, mlp_dim)
            self.norm = nn.LayerNorm(dim)
            self.decoder_embed = nn.Linear(dim, decoder_dim)
            self.mask_token = nn.Parameter(0.02 * torch.randn(1, 1, decoder_dim))
            self.decoder_pos_embed = nn.Parameter(0.02 * torch.randn(1, num_patches, decoder_dim))
            self.decoder = _transformer(decoder_dim, decoder_depth, decoder_heads, 2 * decoder_dim)
            self.decoder_norm = nn.LayerNorm(decoder_dim)
            self.head = nn.Linear(decoder_dim, patch_dim)

    def _tokens(self, tokens) -> torch.Tensor:
        tokens = as_float_tensor(tokens, "tokens", ndim=3, features=self.patch_dim)
        if tokens.shape[1] != self.num_patches:
            raise ValueError(f"tokens should hold {self.num_patches} patches per image (N, L, P), "
                             f"but has shape {tuple(tokens.shape)}.")
        return tokens

    def _ids(self, ids_keep, n: int) -> torch.Tensor:
        ids = torch.as_tensor(np.asarray(ids_keep) if not isinstance(ids_keep, torch.Tensor) else ids_keep)
        if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"ids_keep should hold integer patch indices, got dtype {ids.dtype}.")
        if ids.dim() != 2 or ids.shape[0] != n or ids.shape[1] < 1:
            raise ValueError(f"ids_keep should have shape (N, V) = ({n}, V) with V >= 1, got {tuple(ids.shape)}.")
        if int(ids.min()) < 0 or int(ids.max()) >= self.num_patches:
            raise ValueError(f"ids_keep holds indices outside [0, {self.num_patches}).")
        return ids.long().to(self.pos_embed.device)

    def encode(self, tokens, ids_keep=None) -> torch.Tensor:
        """Latent tokens (N, V, dim) of the visible patches ``ids_keep`` (N, V); all L patches if None."""
        tokens = self._tokens(tokens)
        z = self.patch_embed(tokens) + self.pos_embed                  # (N, L, dim)
        if ids_keep is not None:
            ids = self._ids(ids_keep, len(tokens))
            z = torch.gather(z, 1, ids[..., None].expand(-1, -1, self.dim))  # (N, V, dim)
        return self.norm(self.encoder(z))

    def restore_ids(self, ids_keep) -> torch.Tensor:
        """An ``ids_restore`` (N, L) that fits ``ids_keep`` (N, V): the inverse of the permutation that
        lists ``ids_keep`` first and the hidden patches after them (in increasing order)."""
        ids = self._ids(ids_keep, len(ids_keep))
        hidden = torch.ones(len(ids), self.num_patches, dtype=torch.bool, device=ids.device)
        hidden.scatter_(1, ids, False)
        if int(hidden.sum()) != len(ids) * (self.num_patches - ids.shape[1]):
            raise ValueError("each row of ids_keep should hold different patch indices.")
        # the hidden patches in increasing order: a stable sort puts the visible (0) before the hidden (1)
        hidden_ids = torch.argsort(hidden.long(), dim=1, stable=True)[:, ids.shape[1]:]
        return torch.cat([ids, hidden_ids], dim=1).argsort(dim=1)

    def decode(self, latent: torch.Tensor, ids_restore) -> torch.Tensor:
        """Predicted patches (N, L, P) from the visible tokens' latents (N, V, dim).

        ``ids_restore`` (N, L): position l of the output takes the token at ``ids_restore[n, l]`` of
        the sequence [V visible tokens, L - V mask tokens] (the same mechanism as the lesson's
        exercise on mask tokens)."""
        return self._decode(latent, self._restore(ids_restore, len(latent)))

    def _decode(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        visible = self.decoder_embed(latent)                           # (N, V, d)
        masks = self.mask_token.expand(len(latent), self.num_patches - latent.shape[1], -1)   # (N, L - V, d)
        shuffled = torch.cat([visible, masks], dim=1)                  # (N, L, d), in shuffled order
        full = torch.gather(shuffled, 1, restore[..., None].expand(-1, -1, visible.shape[-1]))  # patch order
        return self.head(self.decoder_norm(self.decoder(full + self.decoder_pos_embed)))

    def _restore(self, ids_restore, n: int) -> torch.Tensor:
        ids = torch.as_tensor(np.asarray(ids_restore) if not isinstance(ids_restore, torch.Tensor) else ids_restore)
        if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"ids_restore should hold integer indices, got dtype {ids.dtype}.")
        if tuple(ids.shape) != (n, self.num_patches):
            raise ValueError(f"ids_restore should have shape (N, L) = ({n}, {self.num_patches}), got {tuple(ids.shape)}.")
        ids = ids.long().to(self.pos_embed.device)
        if not torch.equal(ids.sort(dim=1).values, torch.arange(self.num_patches, device=ids.device).expand(n, -1)):
            raise ValueError("each row of ids_restore should be a permutation of 0..L-1.")
        return ids

    def forward(self, tokens, ids_keep, ids_restore=None) -> torch.Tensor:
        """Predicted patches (N, L, P) for every position, seeing only the patches ``ids_keep`` (N, V).

        ``ids_restore`` (N, L) is the inverse of the shuffle whose first V entries are ``ids_keep``
        (``ids_restore[n, ids_keep[n, j]] == j``); if None, :meth:`restore_ids` builds one."""
        keep = self._ids(ids_keep, len(ids_keep))
        if ids_restore is None:
            restore = self.restore_ids(keep)
        else:
            restore = self._restore(ids_restore, len(keep))
            if not torch.equal(restore.gather(1, keep), torch.arange(keep.shape[1], device=keep.device).expand_as(keep)):
                raise ValueError("ids_restore does not fit ids_keep: ids_restore[n, ids_keep[n, j]] should be j.")
        return self._decode(self.encode(tokens, keep), restore)

    def features(self, tokens) -> torch.Tensor:
        """One feature vector per image (N, dim): the encoder on all patches, averaged over them."""
        return self.encode(tokens).mean(dim=1)


def _as_numpy(value) -> np.ndarray:
    """``value`` (array or tensor, any shape) as a NumPy array on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def patch_grid_distances(grid_shape) -> np.ndarray:
    """Euclidean distances (L, L) between the centres of the patches of a ``grid_shape`` (rows, cols) grid.

    Patches are numbered row by row (the first row of patches left to right, then the next).
    """
    rows, cols = (int(s) for s in grid_shape)
    centres = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), axis=-1).reshape(-1, 2)
    return np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)


def nearest_visible_fill(tokens, mask, grid_shape) -> np.ndarray:
    """Baseline: every hidden patch copies the nearest visible patch of the same image.

    ``tokens``: (N, L, P) patches numbered row by row on a ``grid_shape`` grid; ``mask``: (N, L),
    1 (or True) where a patch is hidden. Ties go to the lower patch number. Visible patches are
    kept. Returns a NumPy array (N, L, P). Every image needs at least one visible patch.
    """
    tokens = _as_numpy(tokens)
    hidden = _as_numpy(mask).astype(bool)
    if tokens.ndim != 3 or hidden.shape != tokens.shape[:2]:
        raise ValueError(f"tokens (N, L, P) and mask (N, L) do not fit: {tokens.shape} and {hidden.shape}.")
    if hidden.all(axis=1).any():
        raise ValueError("every image needs at least one visible patch to copy from.")
    distance = patch_grid_distances(grid_shape)
    if distance.shape[0] != tokens.shape[1]:
        raise ValueError(f"a {tuple(grid_shape)} grid has {distance.shape[0]} patches, tokens have {tokens.shape[1]}.")
    distance = np.where(hidden[:, None, :], np.inf, distance[None])     # (N, L, L): hidden sources are out
    source = distance.argmin(axis=-1)                                    # (N, L)
    return np.take_along_axis(tokens, source[..., None], axis=1)


def mean_patch_fill(tokens, mask, mean_tokens) -> np.ndarray:
    """Baseline: every hidden patch becomes the training set's mean patch at that position.

    ``tokens``: (N, L, P); ``mask``: (N, L), 1 where hidden; ``mean_tokens``: (L, P). Returns (N, L, P).
    """
    tokens = _as_numpy(tokens)
    hidden = _as_numpy(mask).astype(bool)
    mean_tokens = _as_numpy(mean_tokens)
    if mean_tokens.shape != tokens.shape[1:] or hidden.shape != tokens.shape[:2]:
        raise ValueError(f"shapes do not fit: tokens {tokens.shape}, mask {hidden.shape}, mean_tokens {mean_tokens.shape}.")
    return np.where(hidden[..., None], mean_tokens[None], tokens)


def _num_hidden(num_patches: int, mask_ratio: float) -> int:
    num_keep = int(round((1 - float(mask_ratio)) * num_patches))
    if not 1 <= num_keep <= num_patches:
        raise ValueError(f"a mask ratio of {mask_ratio} leaves {num_keep} of {num_patches} patches visible; "
                         "at least one must stay visible.")
    return num_patches - num_keep


def block_masking(num_images: int, grid_shape, mask_ratio: float, seed: int | None = None) -> np.ndarray:
    """Block-wise masks (N, L) float32, 1 where hidden: large random rectangles of patches are hidden.

    Rectangles (height and width drawn uniformly from 1..rows and 1..cols, position uniform) are
    added one after another until exactly ``L - round((1 - r) L)`` patches are hidden:
    the patches of the last rectangle are taken in row order only as far as needed. ``seed`` None
    draws fresh masks (``np.random.default_rng(None)``); an int repeats them.
    """
    rows, cols = (int(v) for v in grid_shape)
    num_patches = rows * cols
    num_hide = _num_hidden(num_patches, mask_ratio)
    rng = np.random.default_rng(seed)
    masks = np.zeros((int(num_images), num_patches), dtype=np.float32)
    for mask in masks.reshape(int(num_images), rows, cols):
        hidden = 0
        while hidden < num_hide:
            h, w = int(rng.integers(1, rows + 1)), int(rng.integers(1, cols + 1))
            top, left = int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1))
            for i in range(top, top + h):
                for j in range(left, left + w):
                    if hidden < num_hide and mask[i, j] == 0:
                        mask[i, j] = 1.0
                        hidden += 1
    return masks


def grid_masking(num_images: int, grid_shape, cell: int = 2, seed: int | None = None) -> np.ndarray:
    """Grid-wise masks (N, L) float32, 1 where hidden: one patch of every ``cell`` x ``cell`` square is kept.

    The kept patch has the same place in every square (for ``cell`` = 2 a ratio of 75%); that
    place is drawn per image (``seed`` as in :func:`block_masking`). ``grid_shape`` must be
    divisible by ``cell``.
    """
    rows, cols = (int(v) for v in grid_shape)
    if rows % cell or cols % cell:
        raise ValueError(f"a {rows} x {cols} grid of patches cannot be cut into {cell} x {cell} squares.")
    rng = np.random.default_rng(seed)
    masks = np.ones((int(num_images), rows, cols), dtype=np.float32)
    for mask in masks:
        u, v = int(rng.integers(cell)), int(rng.integers(cell))
        mask[u::cell, v::cell] = 0.0
    return masks.reshape(int(num_images), rows * cols)
