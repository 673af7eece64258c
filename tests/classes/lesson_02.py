"""Lesson 02-pca: the class and the grade each student must get (11 autograded points).

Points: test-pca 2, test-pca-reconstruct 1, test-principal-angles 2, test-linear-gradients 3,
test-train-deep 3.
"""

from tests.classes import Student

STUDENTS = [
    Student("reference", 11),
    Student("blank", 0, blank=True),
    # PCA of the raw data: the first "component" follows the mean, not the variance.
    Student("pca-without-centring", 9, answers={"ex-pca": '''def pca(x, k):
    _, _, vt = np.linalg.svd(np.asarray(x, dtype=np.float64), full_matrices=False)
    return np.asarray(x).mean(axis=0), vt[:k]'''}),
    # The derivative of the square is forgotten: every gradient is half the true one.
    Student("gradient-without-the-2", 8, answers={"ex-linear-gradients": '''def linear_ae_gradients(x, W_enc, W_dec):
    h = x @ W_enc
    r = h @ W_dec - x
    return x.T @ r @ W_dec.T / len(x), h.T @ r / len(x)'''}),
    # Right in other forms: eigh of the covariance in float32, einsum, SVD bases, loops, a handwritten model.
    Student("written-differently", 11, answers={
        "ex-pca": '''def pca(x, k):
    x = np.asarray(x, dtype=np.float32)
    mean = x.sum(axis=0) / len(x)
    centred = x - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / len(x))
    order = np.argsort(values)[::-1][:k]
    return mean, vectors[:, order].T''',
        "ex-pca-reconstruct": '''def pca_reconstruct(x, mean, components):
    projector = np.einsum("kd,ke->de", components, components)
    return np.einsum("nd,de->ne", x - mean, projector) + mean''',
        "ex-principal-angles": '''def principal_angles(a, b):
    ua = np.linalg.svd(a, full_matrices=False)[0]
    ub = np.linalg.svd(b, full_matrices=False)[0]
    sines_or_cosines = np.linalg.svd(ua.T @ ub, compute_uv=False)
    angles = [float(np.arccos(min(1.0, max(-1.0, c)))) for c in sines_or_cosines]
    return np.array(sorted(angles))''',
        "ex-linear-gradients": '''def linear_ae_gradients(x, W_enc, W_dec):
    x, W_enc, W_dec = (np.asarray(a, dtype=np.float32) for a in (x, W_enc, W_dec))
    N = x.shape[0]
    g_enc, g_dec = np.zeros_like(W_enc), np.zeros_like(W_dec)
    for n in range(N):
        h = x[n] @ W_enc
        r = h @ W_dec - x[n]
        g_dec += 2.0 / N * np.outer(h, r)
        g_enc += 2.0 / N * np.outer(x[n], W_dec @ r)
    return g_enc, g_dec''',
        "ex-train-deep": '''import torch
from torch import nn

class DeepAutoencoder(nn.Module):
    def __init__(self, code_size):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 96), nn.Tanh(), nn.Linear(96, code_size))
        self.decoder = nn.Sequential(nn.Linear(code_size, 96), nn.Tanh(), nn.Linear(96, 64), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))

def train_deep_autoencoder(x_train, code_size, seed=0):
    torch.manual_seed(seed)
    model = DeepAutoencoder(code_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=4e-3)
    x = torch.as_tensor(x_train)
    for epoch in range(50):
        for batch in torch.randperm(len(x)).split(64):
            loss = ((model(x[batch]) - x[batch]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model'''}),
    Student("edits-a-test", 8, status="tampered", tamper={"test-linear-gradients": "pass"}, answers={
        "ex-linear-gradients": '''def linear_ae_gradients(x, W_enc, W_dec):
    return np.zeros_like(W_enc), np.zeros_like(W_dec)'''}),
]
