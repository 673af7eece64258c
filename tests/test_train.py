import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from aelib import data, models, train


@pytest.fixture(scope="module")
def digits():
    return data.load()


def test_fit_learns_and_records(digits):
    model = models.mlp_autoencoder([64, 16], activation=None, seed=0)
    before = train.evaluate(model, digits.x_test)
    history = train.fit(model, digits.x_train, num_epochs=5, lr=1e-2, x_val=digits.x_test, progress=False)
    assert len(history.train_loss) == len(history.val_loss) == 5
    assert history.val_loss[-1] < 0.5 * before
    assert history.train_loss[-1] < history.train_loss[0]
    assert math.isclose(history.val_loss[-1], train.evaluate(model, digits.x_test), rel_tol=1e-5)
    assert history.seconds > 0


def test_fit_is_repeatable(digits):
    runs = []
    for _ in range(2):
        model = models.mlp_autoencoder([64, 8], seed=3)
        runs.append(train.fit(model, digits.x_train[:200], num_epochs=2, seed=5, progress=False).train_loss)
    assert runs[0] == runs[1]


def test_custom_loss_and_tensor_input(digits):
    model = models.mlp_autoencoder([64, 8], seed=0)
    l1 = lambda m, x: (m(x) - x).abs().mean()  # noqa: E731
    history = train.fit(model, torch.from_numpy(digits.x_train[:100]), num_epochs=2, loss_fn=l1, progress=False)
    assert len(history.train_loss) == 2


def test_early_stopping_restores_best(digits):
    model = models.mlp_autoencoder([64, 8], seed=0)
    history = train.fit(model, digits.x_train[:64], num_epochs=200, lr=0.5, x_val=digits.x_test, patience=2,
                        progress=False)
    assert history.stopped_early and len(history.val_loss) < 200
    assert math.isclose(train.evaluate(model, digits.x_test), min(history.val_loss), rel_tol=1e-5)


def test_bad_input_messages(digits):
    model = models.mlp_autoencoder([64, 8])
    with pytest.raises(TypeError, match="floating-point"):
        train.fit(model, (digits.x_train * 16).astype(np.int64), progress=False)
    with pytest.raises(TypeError, match="scalar tensor"):
        train.fit(model, digits.x_train, loss_fn=lambda m, x: (m(x) - x) ** 2, progress=False)
    with pytest.raises(ValueError, match="patience needs x_val"):
        train.fit(model, digits.x_train, patience=3, progress=False)
    with pytest.raises(ValueError, match="64 features"):
        train.fit(model, digits.x_train[:, :32], progress=False)
    with pytest.raises(FloatingPointError, match="lower lr"):
        train.fit(model, digits.x_train, loss_fn=lambda m, x: m(x).sum() * float("nan"), progress=False)


class _Tied(nn.Module):
    """A frozen input layer, one layer used twice (a shared parameter) and a layer never used."""

    def __init__(self):
        super().__init__()
        self.frozen = nn.Linear(64, 16).requires_grad_(False)
        self.shared = nn.Linear(16, 16)
        self.out = nn.Linear(16, 64)
        self.unused = nn.Linear(4, 4)

    def forward(self, x):
        return self.out(torch.tanh(self.shared(torch.tanh(self.shared(self.frozen(x))))))


CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"))


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_fit_updates_as_torch_adam(digits, weight_decay, device):
    torch.manual_seed(0)
    model, x = _Tied().to(device), torch.as_tensor(digits.x_train[:200]).to(device)
    reference = copy.deepcopy(model)
    train.fit(model, x, num_epochs=2, batch_size=64, lr=1e-2, weight_decay=weight_decay, seed=3, progress=False)

    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(3)
    for _ in range(2):  # fit's batch order: one permutation per epoch from the seeded generator
        shuffled = x[torch.randperm(len(x), generator=generator).to(device)]
        for i in range(0, len(x), 64):
            optimizer.zero_grad()
            train.reconstruction_loss(reference, shuffled[i : i + 64]).backward()
            optimizer.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert torch.equal(model.unused.weight, reference.unused.weight)  # no gradient: Adam leaves it alone


def _own_storage(t: torch.Tensor) -> bool:
    return t.untyped_storage().nbytes() == t.numel() * t.element_size()


def test_parameters_are_ordinary_after_fit(digits):
    broken = models.mlp_autoencoder([64, 16], seed=0)
    with pytest.raises(FloatingPointError):  # also when fit stops with an error
        train.fit(broken, digits.x_train[:128], num_epochs=1, loss_fn=lambda m, x: m(x).sum() * float("nan"),
                  progress=False)
    assert all(_own_storage(p) for p in broken.parameters())
    model = models.mlp_autoencoder([64, 16], seed=0)
    train.fit(model, digits.x_train[:128], num_epochs=1, progress=False)
    for p in model.parameters():
        assert type(p) is nn.Parameter and _own_storage(p) and _own_storage(p.grad)
    saved = copy.deepcopy(model.state_dict())
    torch.optim.SGD(model.parameters(), lr=0.1).step()  # a student's own optimizer still moves them
    assert not torch.equal(model.encoder[0].weight, saved["encoder.0.weight"])
    model.load_state_dict(saved)
    assert torch.equal(model.encoder[0].weight, saved["encoder.0.weight"])
    history = train.fit(model, digits.x_train[:128], num_epochs=2, progress=False)  # a second fit
    assert history.train_loss[1] < history.train_loss[0]
