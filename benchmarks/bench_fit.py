"""aelib.fit against a plain PyTorch loop over a DataLoader, and fit's FLOP/s against matmul's."""

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from aelib import data, models, train


def _dataloader_fit(model, x, num_epochs, batch_size, lr, seed):
    """The loop a PyTorch tutorial would write: DataLoader(TensorDataset), Adam, MSE."""
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(torch.as_tensor(x)), batch_size=batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(num_epochs):
        for (batch,) in loader:
            loss = nn.functional.mse_loss(model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def fit_vs_dataloader(num_epochs: int = 20, batch_size: int = 64, repeats: int = 3) -> dict:
    """Same model, data, epochs and seed; the best of ``repeats`` runs of each, interleaved."""
    split = data.load()
    sizes = [64, 128, 16]
    times = {"fit": [], "dataloader": []}
    losses = {}
    for _ in range(repeats):
        for name in ("fit", "dataloader"):
            model = models.mlp_autoencoder(sizes, output_activation="sigmoid", seed=0)
            start = time.perf_counter()
            if name == "fit":
                train.fit(model, split.x_train, num_epochs=num_epochs, batch_size=batch_size, lr=3e-3, progress=False)
            else:
                _dataloader_fit(model, split.x_train, num_epochs, batch_size, 3e-3, seed=0)
            times[name].append(time.perf_counter() - start)
            losses[name] = train.evaluate(model, split.x_test)
    speedup = min(times["dataloader"]) / min(times["fit"])
    return {"fit_speedup_vs_dataloader": speedup, "fit_seconds": min(times["fit"]),
            "dataloader_seconds": min(times["dataloader"]),
            "fit_loss_ratio_vs_dataloader": losses["fit"] / losses["dataloader"]}


def _matmul_flops(n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def fit_fraction_of_peak(batch_size: int = 256, num_epochs: int = 5) -> dict:
    """FLOP/s of fit on a wider MLP autoencoder at batch 256, over torch's own matmul FLOP/s."""
    split = data.load()
    x = torch.as_tensor(split.x_train).repeat(8, 1)  # 11,504 images: a few hundred steps per run
    sizes = [64, 512, 256, 32]
    model = models.mlp_autoencoder(sizes, seed=0)
    train.fit(model, x[:batch_size], num_epochs=1, batch_size=batch_size, progress=False)  # warm-up
    history = train.fit(model, x, num_epochs=num_epochs, batch_size=batch_size, progress=False)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * 2  # encoder and mirrored decoder
    flops = 6 * weights * len(x) * num_epochs  # forward 2 per weight and sample, backward 4
    fit_flops = flops / history.seconds
    peak = _matmul_flops()
    return {"fit_fraction_of_matmul_peak": fit_flops / peak, "fit_gflops": fit_flops / 1e9,
            "matmul_gflops": peak / 1e9}
