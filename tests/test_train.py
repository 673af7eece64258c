import math

import numpy as np
import pytest
import torch

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
