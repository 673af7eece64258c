"""Lesson 05-contractive: the class and the grade each student must get (7 autograded points)."""

from tests.classes import Student

STUDENTS = [
    Student("reference", 7),
    Student("blank", 0, blank=True),
    # The slope is not squared: loses the penalty's 2 points.
    Student("missing-square", 5, answers={"ex-contractive-penalty": '''def contractive_penalty(x, W, b):
    h = 1.0 / (1.0 + np.exp(-(x @ W.T + b)))
    return float(((h * (1.0 - h)) @ (W ** 2).sum(axis=1)).mean())'''}),
    # The bias is left out of the pre-activation: loses the gradient's 3 points.
    Student("dropped-bias", 4, answers={"ex-penalty-gradient": '''def contractive_penalty_gradient(x, W, b):
    N = x.shape[0]
    h = 1.0 / (1.0 + np.exp(-(x @ W.T)))
    s = h * (1.0 - h)
    q = (W ** 2).sum(axis=1)
    delta = 2.0 * s ** 2 * (1.0 - 2.0 * h) * q / N
    return delta.T @ x + 2.0 * (s ** 2).sum(axis=0)[:, None] * W / N, delta.sum(axis=0)'''}),
    Student("written-differently", 7, answers={
        "ex-contractive-penalty": '''def contractive_penalty(x, W, b):
    x, W, b = np.asarray(x, np.float32), np.asarray(W, np.float32), np.asarray(b, np.float32)
    total = 0.0
    for n in range(x.shape[0]):
        for i in range(W.shape[0]):
            a = float(np.dot(W[i], x[n]) + b[i])
            slope = np.exp(-a) / (1.0 + np.exp(-a)) ** 2      # sigma'(a), another form
            total += slope ** 2 * float(np.sum(W[i] * W[i]))
    return total / x.shape[0]''',
        "ex-penalty-gradient": '''def contractive_penalty_gradient(x, W, b):
    N = len(x)
    e = np.exp(-(np.einsum("nd,hd->nh", x, W) + b))
    s = e / (1 + e) ** 2                                        # sigma'(a)
    ds = e * (e - 1) / (1 + e) ** 3                             # sigma''(a) = s (1 - 2h)
    q = np.einsum("hd,hd->h", W, W)
    g = 2 * s * ds * q / N                                      # dP/da
    dW = np.einsum("nh,nd->hd", g, x) + np.einsum("nh,hd->hd", 2 * s ** 2 / N, W)
    return dW, np.einsum("nh->h", g)''',
        "ex-train-contractive": '''import torch
from torch import nn

class MyTied(nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.W = nn.Parameter(torch.randn(H, D) * 0.05)
        self.b = nn.Parameter(torch.zeros(H))
        self.c = nn.Parameter(torch.zeros(D))

    def encoder(self, x):
        return torch.sigmoid(x @ self.W.T + self.b)

    def decoder(self, h):
        return torch.sigmoid(h @ self.W + self.c)

def train_contractive_autoencoder(x_train, seed=0):
    torch.manual_seed(seed)
    model = MyTied(x_train.shape[1], 100)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    x = torch.as_tensor(x_train)
    for epoch in range(50):
        for batch in torch.randperm(len(x)).split(64):
            xb = x[batch]
            h = model.encoder(xb)
            slope = h * (1 - h)
            penalty = (slope ** 2 * (model.W ** 2).sum(dim=1)).sum(dim=1).mean()
            loss = ((model.decoder(h) - xb) ** 2).sum(dim=1).mean() + 0.09 * penalty
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model'''}),
    # Edits a test cell (restored before grading) and sums W over the wrong axis: loses 2.
    Student("edits-a-test", 5, status="tampered", tamper={"test-contractive-penalty": "pass"}, answers={
        "ex-contractive-penalty": '''def contractive_penalty(x, W, b):
    h = 1.0 / (1.0 + np.exp(-(x @ W.T + b)))
    return float(((h * (1.0 - h)) ** 2 @ (W ** 2).sum(axis=0)).mean())'''}),
]
