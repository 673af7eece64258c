"""A small masked autoencoder (after He et al. 2021) and two baselines that fill in hidden patches.

The model works on images already cut into patches, ``tokens`` (N, L, P): L patches of P pixels
each. The caller chooses which patches stay visible, ``ids_keep`` (N, V) int64, and builds the
loss; the lesson's own functions cut the patches, draw the masks and score the masked patches.

* the **encoder** embeds every patch linearly, adds a learned position embedding, keeps only the
  V visible tokens and runs a small transformer over them, so its cost grows with V, not L;
* the **decoder** is lighter (narrower, shallower): it puts a shared, learned *mask token* at
  every hidden position, adds its own position embedding, runs a transformer over all L tokens
  and predicts each patch's P pixels.

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

    def decode(self, latent: torch.Tensor, ids_keep) -> torch.Tensor:
        """Predicted patches (N, L, P) from the visible tokens' latents (N, V, dim) at positions ids_keep."""
        ids = self._ids(ids_keep, len(latent))
        visible = self.decoder_embed(latent)                           # (N, V, d)
        full = self.mask_token.expand(len(latent), self.num_patches, -1)  # (N, L, d): mask tokens everywhere
        full = full.scatter(1, ids[..., None].expand(-1, -1, visible.shape[-1]), visible)
        return self.head(self.decoder_norm(self.decoder(full + self.decoder_pos_embed)))

    def forward(self, tokens, ids_keep) -> torch.Tensor:
        """Predicted patches (N, L, P) for every position, seeing only the patches ``ids_keep`` (N, V)."""
        return self.decode(self.encode(tokens, ids_keep), ids_keep)

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
