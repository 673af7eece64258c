"""Lesson 03-sparse: the class and the grade each student must get (12 autograded points).

Points: test-l1-value 1, test-l1-gradient 2, test-l1-zeros 1, test-sparse-cost-value 1,
test-sparse-cost-reconstruction-gradient 2, test-sparse-cost-sparsity-gradient 3, test-train-sparse 2.
"""

from tests.classes import Student

# The sparsity term is added to the hidden error *after* the sigmoid's slope: J and the beta = 0
# gradients stay right, what the sparsity term adds is wrong.
_DELTA_OUTSIDE_THE_SLOPE = '''def sparse_autoencoder_cost(x, params, rho, beta, lam):
    n = x.shape[0]
    h = 1.0 / (1.0 + np.exp(-(x @ params["W_enc"] + params["b_enc"])))
    x_hat = h @ params["W_dec"] + params["b_dec"]
    rho_hat = h.mean(axis=0)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    cost = (0.5 * np.sum((x_hat - x) ** 2) / n
            + 0.5 * lam * (np.sum(params["W_enc"] ** 2) + np.sum(params["W_dec"] ** 2)) + beta * np.sum(kl))
    delta_out = (x_hat - x) / n
    sparsity = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    delta_hid = (delta_out @ params["W_dec"].T) * h * (1 - h) + sparsity / n
    grads = {"W_enc": x.T @ delta_hid + lam * params["W_enc"], "b_enc": delta_hid.sum(axis=0),
             "W_dec": h.T @ delta_out + lam * params["W_dec"], "b_dec": delta_out.sum(axis=0)}
    return float(cost), grads'''

# The L1 gradient with sign(0) = +1 at the kink: right wherever no code is exactly 0 (so the value
# and the generic-gradient tests pass), wrong where one is (test-l1-zeros fails).
_L1_SIGN_OF_ZERO_IS_ONE = '''def l1_penalty(x, W_enc, b_enc, alpha, activation):
    a = x @ W_enc + b_enc
    if activation == "linear":
        h, slope = a, np.ones_like(a)
    elif activation == "relu":
        h, slope = np.maximum(a, 0.0), (a > 0).astype(float)
    else:
        h = 1.0 / (1.0 + np.exp(-a))
        slope = h * (1 - h)
    sign = np.where(h >= 0, 1.0, -1.0)
    delta = alpha / len(x) * sign * slope
    return float(alpha * np.abs(h).sum() / len(x)), {"W_enc": x.T @ delta, "b_enc": delta.sum(axis=0)}'''

STUDENTS = [
    Student("reference", 12),
    Student("blank", 0, blank=True),
    Student("sparsity-outside-the-slope", 8, answers={"ex-sparse-cost": _DELTA_OUTSIDE_THE_SLOPE,
                                                      "ex-l1-gradient": _L1_SIGN_OF_ZERO_IS_ONE}),
    # L1 instead of KL: the average activation can be right, the units' rates are not.
    Student("trains-with-l1", 10, answers={"ex-train-sparse": '''def train_sparse_autoencoder(x_train, seed=0):
    def l1(model, x):
        h = model.encode(x)
        return 0.5 * ((model.decode(h) - x) ** 2).sum(dim=1).mean() + weight_decay_term(model) + 0.05 * h.sum(dim=1).mean()

    model = models.mlp_autoencoder([64, 100], code_activation="sigmoid", seed=seed)
    train.fit(model, x_train, num_epochs=60, lr=1e-2, loss_fn=l1, seed=seed, progress=False)
    return model'''}),
    # Right in other forms: loops over images and units in float32, the KL derivative written as
    # (rho_hat - rho) / (rho_hat (1 - rho_hat)), a handwritten PyTorch model and loop, and an L1
    # gradient per image in float32 with the kinks written as comparisons and np.heaviside.
    Student("written-differently", 12, answers={
        "ex-l1-gradient": '''def l1_penalty(x, W_enc, b_enc, alpha, activation):
    x, W, b = (np.asarray(v, dtype=np.float32) for v in (x, W_enc, b_enc))
    N = len(x)
    omega, g_W, g_b = 0.0, np.zeros_like(W), np.zeros_like(b)
    for n in range(N):
        a = x[n] @ W + b
        if activation == "sigmoid":
            h = 1 / (1 + np.exp(-a))
            push = h * (1 - h)                      # |h| = h > 0
        elif activation == "relu":
            h = np.where(a > 0, a, 0)
            push = np.heaviside(a, 0.0)             # sign(h) * relu'(a), 0 at a = 0
        else:
            h = a
            push = (a > 0).astype(np.float32) - (a < 0).astype(np.float32)
        omega += alpha * float(np.abs(h).sum()) / N
        g_W += np.outer(x[n], push) * alpha / N
        g_b += push * alpha / N
    return omega, {"W_enc": g_W, "b_enc": g_b}''',
        "ex-sparse-cost": '''def sparse_autoencoder_cost(x, params, rho, beta, lam):
    x = np.asarray(x, dtype=np.float32)
    p = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    N, D = x.shape
    H = p["W_enc"].shape[1]
    hs = [1.0 / (1.0 + np.exp(-(x[n] @ p["W_enc"] + p["b_enc"]))) for n in range(N)]
    rho_hat = sum(hs) / N
    cost = 0.0
    for n in range(N):
        cost += 0.5 * float(np.dot(hs[n] @ p["W_dec"] + p["b_dec"] - x[n], hs[n] @ p["W_dec"] + p["b_dec"] - x[n])) / N
    cost += 0.5 * lam * float((p["W_enc"] ** 2).sum() + (p["W_dec"] ** 2).sum())
    for j in range(H):
        cost += beta * (rho * np.log(rho / rho_hat[j]) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat[j])))
    kl_slope = (rho_hat - rho) / (rho_hat * (1 - rho_hat))
    g = {k: np.zeros_like(v) for k, v in p.items()}
    for n in range(N):
        err = (hs[n] @ p["W_dec"] + p["b_dec"] - x[n]) / N
        g["W_dec"] += np.outer(hs[n], err)
        g["b_dec"] += err
        for j in range(H):
            d = (float(p["W_dec"][j] @ err) + beta * kl_slope[j] / N) * hs[n][j] * (1 - hs[n][j])
            g["W_enc"][:, j] += d * x[n]
            g["b_enc"][j] += d
    g["W_enc"] += lam * p["W_enc"]
    g["W_dec"] += lam * p["W_dec"]
    return float(cost), g''',
        "ex-train-sparse": '''import torch
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

class Sparse(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 128), nn.Sigmoid())
        self.decoder = nn.Sequential(nn.Linear(128, 64))

def train_sparse_autoencoder(x_train, seed=0):
    torch.manual_seed(seed)
    model = Sparse()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.as_tensor(x_train)
    target = torch.full((128,), 0.05)
    for epoch in range(50):
        for batch in torch.randperm(len(x)).split(100):
            h = model.encoder(x[batch])
            kl = kl_divergence(Bernoulli(probs=target), Bernoulli(probs=h.mean(0))).sum()
            decay = 5e-4 * ((model.encoder[0].weight ** 2).sum() + (model.decoder[0].weight ** 2).sum())
            loss = 0.5 * ((model.decoder(h) - x[batch]) ** 2).sum(1).mean() + decay + kl
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model'''}),
    Student("edits-a-test", 9, status="tampered", tamper={"test-sparse-cost-sparsity-gradient": "pass"},
            answers={"ex-sparse-cost": _DELTA_OUTSIDE_THE_SLOPE}),
]
