"""How good the course's models are: linear AE against PCA's optimum, PCA against a deep AE."""

import numpy as np
from sklearn.decomposition import PCA

from aelib import data, models, train


def _pca_mse(x_fit, x_eval, k):
    pca = PCA(k).fit(x_fit)
    return float(((pca.inverse_transform(pca.transform(x_eval)) - x_eval) ** 2).mean())


def linear_ae_over_pca(k: int = 16) -> dict:
    """Training error of a linear autoencoder over PCA's (the Eckart–Young optimum) at code size k.

    Mini-batches at a fixed step size stall a little above the optimum (gradient noise); a second
    stage on the full batch with a tenth of the step size settles into it.
    """
    split = data.load()
    model = models.mlp_autoencoder([64, k], activation=None, seed=0)
    train.fit(model, split.x_train, num_epochs=150, batch_size=128, lr=3e-3, progress=False)
    train.fit(model, split.x_train, num_epochs=300, batch_size=len(split.x_train), lr=3e-4, progress=False)
    ratio = train.evaluate(model, split.x_train) / _pca_mse(split.x_train, split.x_train, k)
    return {"linear_ae_mse_over_pca": ratio, "linear_ae_k": k}


def pca_over_deep_ae(k: int = 8) -> dict:
    """Held-out error of PCA over a deep nonlinear autoencoder's, both with k-dimensional codes."""
    split = data.load()
    model = models.mlp_autoencoder([64, 256, 128, k], output_activation="sigmoid", seed=0)
    train.fit(model, split.x_train, num_epochs=80, lr=2e-3, x_val=split.x_test, patience=10, progress=False)
    deep = train.evaluate(model, split.x_test)
    return {"pca_mse_over_deep_ae": _pca_mse(split.x_train, split.x_test, k) / deep, "deep_ae_k": k,
            "deep_ae_sizes": "64-256-128-8 (ReLU, sigmoid output)"}


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    print(linear_ae_over_pca(), pca_over_deep_ae())
