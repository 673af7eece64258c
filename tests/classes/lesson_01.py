"""Lesson 01-copy-through: the class and the grade each student must get.

7 autograded points: forward 1, loss 1, gradients 3 (the derivation), bottleneck training 2
(held-out error below what any linear autoencoder with 16 code units reaches).
"""

from autograder.submissions import reference_answers
from tests.classes import NOT_A_LESSON, Student

REFERENCE = reference_answers("01-copy-through")

STUDENTS = [
    Student("reference", 7),
    Student("blank", 0, blank=True),
    # forgets the sigmoid's derivative, and trains the nearest wrong model of Exercise 4: a linear
    # autoencoder at the allowed code size (16), which cannot beat PCA with 16 components
    Student("no-sigmoid-derivative", 2, answers={"ex-gradients": '''def gradients(x, params):
    h, x_hat = forward(x, params)
    d_out = 2.0 * (x_hat - x) / x.shape[0]
    d_hid = d_out @ params["W_dec"].T
    return {"W_enc": x.T @ d_hid, "b_enc": d_hid.sum(0), "W_dec": h.T @ d_out, "b_dec": d_out.sum(0)}''',
        "ex-train-bottleneck": '''def train_bottleneck_autoencoder(x_train, seed=0):
    model = models.mlp_autoencoder([64, 16], activation=None, seed=seed).to(device)
    train.fit(model, x_train, num_epochs=40, lr=1e-2, seed=seed, progress=False)
    return model'''}),
    Student("sum-not-mean", 6, answers={"ex-loss": '''def reconstruction_loss(x, x_hat):
    return float(((x_hat - x) ** 2).sum())'''}),
    Student("written-differently", 7, answers={
        "ex-forward": '''def forward(x, params):
    x = np.asarray(x, dtype=np.float32)
    a = np.einsum("nd,dh->nh", x, params["W_enc"].astype(np.float32)) + params["b_enc"]
    h = 0.5 * (1.0 + np.tanh(0.5 * a))          # the same sigmoid, another formula
    return h, np.einsum("nh,hd->nd", h, params["W_dec"]) + params["b_dec"]''',
        "ex-loss": '''def reconstruction_loss(x, x_hat):
    return np.mean((np.asarray(x) - np.asarray(x_hat)) ** 2) * np.shape(x)[1]''',
        "ex-gradients": '''def gradients(x, params):
    x = np.asarray(x, dtype=np.float32)
    N, D = x.shape
    H = params["W_enc"].shape[1]
    h, x_hat = forward(x, params)
    g = {name: np.zeros(value.shape, dtype=np.float32) for name, value in params.items()}
    for n in range(N):
        err = 2.0 * (x_hat[n] - x[n]) / N
        g["b_dec"] += err
        g["W_dec"] += np.outer(h[n], err)
        for j in range(H):
            d = float(np.dot(params["W_dec"][j], err)) * h[n, j] * (1 - h[n, j])
            g["b_enc"][j] += d
            g["W_enc"][:, j] += d * x[n]
    return g''',
        "ex-train-bottleneck": '''import torch
from torch import nn

class SmallAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 96), nn.Tanh(), nn.Linear(96, 12))
        self.decoder = nn.Sequential(nn.Linear(12, 96), nn.Tanh(), nn.Linear(96, 64), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))

def train_bottleneck_autoencoder(x_train, seed=0):
    torch.manual_seed(seed)
    model = SmallAutoencoder()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.as_tensor(x_train)
    for epoch in range(60):
        for batch in torch.randperm(len(x)).split(32):
            loss = ((model(x[batch]) - x[batch]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model'''}),
    Student("noisy-but-right", 7, answers={"ex-forward": REFERENCE["ex-forward"].replace(
        '    """\n', '    """\n    import sys, warnings\n    print("debugging forward", file=sys.stderr)\n'
        '    warnings.warn("a warning from the student")\n', 1)}),
    Student("copy-through-cheat", 5, answers={"ex-train-bottleneck": '''def train_bottleneck_autoencoder(x_train, seed=0):
    model = models.mlp_autoencoder([64, 64], activation=None, seed=seed)
    train.fit(model, x_train, num_epochs=30, lr=1e-2, progress=False)
    return model'''}),
    # edits a test and the locked data-set cell (a data set that does not exist would zero every
    # data-dependent test): both are restored, so only the wrong gradients lose points
    Student("edits-a-test", 4, status="tampered",
            tamper={"test-gradients": "pass", "course-settings": 'DATASET = "no-such-data"'}, answers={
        "ex-gradients": '''def gradients(x, params):
    return {name: np.zeros_like(value) for name, value in params.items()}'''}),
    Student("broken-upload", 0, status="unreadable", raw='{"cells": [ {"cell_type": "code", "sour'),
    Student("other-notebook", 0, status="wrong-lesson", raw=NOT_A_LESSON),
]
