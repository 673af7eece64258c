"""aelib.fit against a plain PyTorch loop over a DataLoader, and fit's FLOP/s against matmul's.

Both run on ``aelib.pick_device()``: a GPU where there is one (``AELIB_DEVICE=cpu`` for the CPU).
"""

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from aelib import data, models, train
from aelib.device import pick_device


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer reads the work done (CUDA runs ahead)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _dataloader_fit(model, x, num_epochs, batch_size, lr, seed, device):
    """The loop a PyTorch tutorial would write: DataLoader(TensorDataset), Adam, MSE."""
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(torch.as_tensor(x)), batch_size=batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(num_epochs):
        for (batch,) in loader:
            batch = batch.to(device)
            loss = nn.functional.mse_loss(model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def _forward_backward_only(model, x, num_epochs, batch_size, device):
    """fit's batches through the model and back, with no optimizer and no loop bookkeeping: the
    part of a training step no training loop can avoid."""
    x = torch.as_tensor(x).to(device)
    for _ in range(num_epochs):
        for i in range(0, len(x), batch_size):
            batch = x[i : i + batch_size]
            nn.functional.mse_loss(model(batch), batch).backward()


def fit_vs_dataloader(num_epochs: int = 20, batch_size: int = 64, repeats: int = 3) -> dict:
    """Same model, data, epochs and seed; the best of ``repeats`` runs of each, interleaved. Also the
    same batches through forward and backward alone: the speedup no training loop can pass."""
    split, device = data.load(), pick_device()
    sizes = [64, 128, 16]
    times = {"fit": [], "dataloader": [], "forward_backward": []}
    losses = {}
    for _ in range(repeats):
        for name in times:
            model = models.mlp_autoencoder(sizes, output_activation="sigmoid", seed=0).to(device)
            _sync(device)
            start = time.perf_counter()
            if name == "fit":
                train.fit(model, split.x_train, num_epochs=num_epochs, batch_size=batch_size, lr=3e-3, progress=False)
            elif name == "dataloader":
                _dataloader_fit(model, split.x_train, num_epochs, batch_size, 3e-3, seed=0, device=device)
            else:
                _forward_backward_only(model, split.x_train, num_epochs, batch_size, device)
            _sync(device)
            times[name].append(time.perf_counter() - start)
            if name != "forward_backward":  # the trainers' final losses
                losses[name] = train.evaluate(model, split.x_test)
    best = {name: min(seconds) for name, seconds in times.items()}
    return {"fit_device": device.type,
            "fit_speedup_vs_dataloader": best["dataloader"] / best["fit"], "fit_seconds": best["fit"],
            "dataloader_seconds": best["dataloader"],
            "fit_loss_ratio_vs_dataloader": losses["fit"] / losses["dataloader"],
            # what fit's speedup would be if its optimizer and loop took no time at all
            "fit_speedup_ceiling_forward_backward_only": best["dataloader"] / best["forward_backward"]}


def _matmul_flops(device: torch.device, n: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of torch's (n, n) @ (n, n) float32 matmul on ``device``."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def fit_fraction_of_peak(batch_size: int = 256, num_epochs: int = 5) -> dict:
    """FLOP/s of fit on a wider MLP autoencoder at batch 256, over torch's own matmul FLOP/s."""
    split, device = data.load(), pick_device()
    x = torch.as_tensor(split.x_train).repeat(8, 1)  # 11,504 images: a few hundred steps per run
    sizes = [64, 512, 256, 32]
    model = models.mlp_autoencoder(sizes, seed=0).to(device)
    train.fit(model, x[:batch_size], num_epochs=1, batch_size=batch_size, progress=False)  # warm-up
    history = train.fit(model, x, num_epochs=num_epochs, batch_size=batch_size, progress=False)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * 2  # encoder and mirrored decoder
    flops = 6 * weights * len(x) * num_epochs  # forward 2 per weight and sample, backward 4
    fit_flops = flops / history.seconds
    peak = _matmul_flops(device)
    return {"fit_fraction_of_matmul_peak": fit_flops / peak, "fit_gflops": fit_flops / 1e9,
            "matmul_gflops": peak / 1e9}
