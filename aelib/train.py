"""One training loop for every model in the course.

The whole training set is moved to the device once and mini-batches are index slices of it, so
no time goes to a DataLoader's per-batch Python work. Adam updates all parameters at once, as a few
operations on one flat buffer that holds them (see :class:`_FlatAdam`).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from aelib.checks import as_float_tensor


def reconstruction_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between ``model(x)`` and ``x``, averaged over samples and features."""
    return nn.functional.mse_loss(model(x), x)


@dataclass
class History:
    """Losses recorded by :func:`fit`, one entry per epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False


def _check_scalar(loss) -> torch.Tensor:
    """Refuse a loss that is not a scalar tensor (checked every batch; costs no device sync)."""
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(
            f"loss_fn must return a scalar tensor (shape ()), got {shape}. Reduce with .mean() or .sum()."
        )
    return loss


class _FlatAdam:
    """torch.optim.Adam as a handful of operations on flat buffers that hold all the parameters.

    ``zero_grad`` drops the gradients until the first ``step``. That step copies the parameters
    that received a gradient into one flat (P,) buffer per device and dtype, and makes each
    parameter, and its ``.grad``, a view of a slice of it; a parameter with no gradient in the
    first batch (frozen, or unused by the loss) is never updated, as torch.optim.Adam skips it.
    From then on ``zero_grad`` and ``step`` cost a few operations on (P,) tensors, however many
    parameters the model has. The update is torch.optim.Adam's: L2 ``weight_decay`` added to the
    gradient, bias-corrected moments, ``eps`` added after the square root. ``release`` gives every
    parameter its own storage back.
    """

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.weight_decay, self.betas, self.eps = list(params), lr, weight_decay, betas, eps
        self.buffers = []  # per device and dtype: parameters, gradients, exp_avg, exp_avg_sq, scratch, all (P,)
        self.steps = 0

    def zero_grad(self) -> None:
        for _, grad, *_ in self.buffers:
            grad.zero_()
        if not self.buffers:
            for p in self.params:
                p.grad = None

    def _flatten(self) -> None:
        self.params = [p for p in self.params if p.grad is not None]
        groups: dict[tuple, list[nn.Parameter]] = {}
        for p in self.params:
            groups.setdefault((p.device, p.dtype), []).append(p)
        for group in groups.values():
            flat = torch.cat([p.detach().reshape(-1) for p in group])
            grad = torch.cat([p.grad.reshape(-1) for p in group])
            sizes = [p.numel() for p in group]
            for p, data, p_grad in zip(group, flat.split(sizes), grad.split(sizes)):
                p.data, p.grad = data.view_as(p), p_grad.view_as(p)
            self.buffers.append((flat, grad, torch.zeros_like(flat), torch.zeros_like(flat), torch.empty_like(flat)))

    @torch.no_grad()
    def step(self) -> None:
        if not self.buffers:
            self._flatten()
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        for param, grad, exp_avg, exp_avg_sq, scratch in self.buffers:  # scratch: no allocation per step
            if self.weight_decay != 0:
                grad = torch.add(grad, param, alpha=self.weight_decay, out=scratch)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = torch.sqrt(exp_avg_sq, out=scratch).div_(bias_correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)

    def release(self) -> None:
        """Give each parameter (and gradient) storage of its own again, outside the flat buffers."""
        if self.buffers:
            for p in self.params:
                p.data, p.grad = p.detach().clone(), p.grad.clone()
            self.buffers = []


@torch.no_grad()
def evaluate(model: nn.Module, x, loss_fn: Callable = reconstruction_loss, batch_size: int = 1024) -> float:
    """Average of ``loss_fn`` over ``x`` (N, ...) in evaluation mode, weighted by batch size."""
    device = next(model.parameters()).device
    x = as_float_tensor(x, "x").to(device)
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        total += float(loss_fn(model, batch)) * len(batch)
    model.train(was_training)
    return total / len(x)


def fit(
    model: nn.Module,
    x_train,
    *,
    num_epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    loss_fn: Callable = reconstruction_loss,
    x_val=None,
    patience: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with Adam on mini-batches of ``x_train`` and return its :class:`History`.

    ``x_train``: (N, ...) float array or tensor. ``loss_fn(model, batch)`` returns a scalar tensor
    (default: mean squared reconstruction error). ``x_val`` adds a validation loss per epoch;
    with ``patience``, training stops after that many epochs without a better validation loss
    and the best weights are restored. ``seed`` fixes the batch order. ``device`` defaults to
    the device of the model's parameters; the model is moved there.
    """
    if num_epochs < 1 or batch_size < 1:
        raise ValueError(f"num_epochs and batch_size must be positive, got {num_epochs} and {batch_size}.")
    if patience is not None and x_val is None:
        raise ValueError("patience needs x_val: early stopping watches the validation loss.")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    x_train = as_float_tensor(x_train, "x_train").to(device)
    x_val = None if x_val is None else as_float_tensor(x_val, "x_val").to(device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters: all have requires_grad=False.")
    optimizer = _FlatAdam(trainable, lr=lr, weight_decay=weight_decay)
    history, best, best_state = History(), float("inf"), None
    start = time.perf_counter()
    model.train()
    try:
        for _ in tqdm(range(num_epochs), desc="epochs", disable=not progress, leave=False):
            shuffled = x_train[torch.randperm(len(x_train), generator=generator).to(device)]  # one gather per epoch
            total = torch.zeros((), device=device)
            for i in range(0, len(x_train), batch_size):
                batch = shuffled[i : i + batch_size]  # a view: no copy per batch
                loss = _check_scalar(loss_fn(model, batch))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total.add_(loss.detach(), alpha=len(batch))  # one op
            history.train_loss.append(float(total) / len(x_train))
            if not math.isfinite(history.train_loss[-1]):
                raise FloatingPointError(
                    f"the training loss became {history.train_loss[-1]} in epoch {len(history.train_loss)}: "
                    "lower lr or check the loss function."
                )
            if x_val is not None:
                history.val_loss.append(evaluate(model, x_val, loss_fn))
                if history.val_loss[-1] < best:
                    best = history.val_loss[-1]
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                elif patience is not None and len(history.val_loss) - 1 - history.val_loss.index(best) >= patience:
                    history.stopped_early = True
                    break
    finally:
        optimizer.release()
    if patience is not None and best_state is not None:
        model.load_state_dict(best_state)
    history.seconds = time.perf_counter() - start
    return history
