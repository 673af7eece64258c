"""Lesson 04-denoising: the class and the grade each student must get (10 autograded points: 1 + 1 + 1 + 1 + 1 + 3 + 2)."""

from tests.classes import Student

STUDENTS = [
    Student("reference", 10),
    Student("blank", 0, blank=True),
    # The mask of masking noise recomputed as x_tilde != x (wrong where x is already 0), the same
    # destroyed positions in every row (passes the visible count test, fails the hidden
    # independence test) and the weights of the loss swapped: loses 1 + 1 + 1.
    Student("shared-positions-swapped-weights", 7, answers={
        "ex-mask-noise": '''def mask_noise(x, p, rng):
    x_tilde = np.where(rng.random(x.shape) < p, 0.0, x).astype(x.dtype)
    return x_tilde, x_tilde != x''',
        "ex-mask-fraction": '''def mask_fraction(x, v, rng):
    k = int(round(v * x.shape[1]))
    columns = rng.choice(x.shape[1], size=k, replace=False)
    corrupted = np.zeros(x.shape, dtype=bool)
    corrupted[:, columns] = True
    return np.where(corrupted, 0.0, x).astype(x.dtype), corrupted''',
        "ex-weighted-loss": '''def weighted_loss(x, x_hat, corrupted, alpha):
    weights = np.where(corrupted, 1.0 - alpha, alpha)
    return float(np.sum(weights * (x_hat - x) ** 2) / x.shape[0])'''}),
    # A variance used as a standard deviation, and the factor 2 of the square forgotten in the
    # back-propagation: loses 1 + 3.
    Student("variance-and-missing-factor", 6, answers={
        "ex-gaussian-noise": '''def gaussian_noise(x, sigma, rng):
    return (x + sigma ** 2 * rng.standard_normal(x.shape)).astype(x.dtype)''',
        "ex-denoising-gradients": '''def denoising_gradients(x, x_tilde, corrupted, alpha, params):
    h, x_hat = dae_forward(x_tilde, params)
    delta_out = np.where(corrupted, alpha, 1.0 - alpha) * (x_hat - x) / x.shape[0]
    delta_hid = (delta_out @ params["W_dec"].T) * h * (1.0 - h)
    return {"W_enc": x_tilde.T @ delta_hid, "b_enc": delta_hid.sum(axis=0),
            "W_dec": h.T @ delta_out, "b_dec": delta_out.sum(axis=0)}'''}),
    Student("written-differently", 10, answers={
        "ex-mask-noise": '''def mask_noise(x, p, rng):
    N, D = x.shape
    x_tilde = x.copy()
    corrupted = np.zeros((N, D), dtype=bool)
    draws = rng.uniform(size=(N, D))
    for n in range(N):
        for m in range(D):
            if draws[n, m] < p:
                corrupted[n, m] = True
                x_tilde[n, m] = 0
    return x_tilde, corrupted''',
        "ex-mask-fraction": '''def mask_fraction(x, v, rng):
    N, D = x.shape
    k = int(round(v * D))
    corrupted = np.zeros((N, D), dtype=bool)
    for n in range(N):
        corrupted[n, rng.choice(D, size=k, replace=False)] = True
    x_tilde = x.copy()
    x_tilde[corrupted] = 0
    return x_tilde, corrupted''',
        "ex-gaussian-noise": '''def gaussian_noise(x, sigma, rng):
    noise = rng.normal(loc=0.0, scale=sigma, size=x.shape)
    return np.asarray(x + noise, dtype=x.dtype)''',
        "ex-salt-and-pepper": '''def salt_and_pepper(x, p, rng, low=0.0, high=1.0):
    corrupted = rng.random(x.shape) < p
    values = rng.choice(np.array([low, high]), size=x.shape)
    x_tilde = x.copy()
    x_tilde[corrupted] = values[corrupted]
    return x_tilde, corrupted''',
        "ex-weighted-loss": '''def weighted_loss(x, x_hat, corrupted, alpha):
    squared = (np.asarray(x_hat, dtype=np.float64) - x) ** 2
    return (alpha * squared[corrupted].sum() + (1 - alpha) * squared[~corrupted].sum()) / len(x)''',
        "ex-denoising-gradients": '''def denoising_gradients(x, x_tilde, corrupted, alpha, params):
    W1, b1, W2, b2 = params["W_enc"], params["b_enc"], params["W_dec"], params["b_dec"]
    grads = {"W_enc": np.zeros_like(W1), "b_enc": np.zeros_like(b1), "W_dec": np.zeros_like(W2), "b_dec": np.zeros_like(b2)}
    for n in range(len(x)):
        h = 1.0 / (1.0 + np.exp(-(x_tilde[n] @ W1 + b1)))
        weight = alpha * corrupted[n] + (1 - alpha) * (1 - corrupted[n])
        e = 2 * weight * (h @ W2 + b2 - x[n]) / len(x)
        back = (W2 @ e) * h * (1 - h)
        grads["W_dec"] += np.outer(h, e)
        grads["b_dec"] += e
        grads["W_enc"] += np.outer(x_tilde[n], back)
        grads["b_enc"] += back
    return grads''',
        "ex-train-denoising": '''import torch
from torch import nn

def train_denoising_autoencoder(x_train, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 64), nn.Sigmoid())
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = torch.as_tensor(x_train)
    for epoch in range(30):
        for batch in torch.randperm(len(x)).split(64):
            clean = x[batch]
            noisy = clean * torch.bernoulli(torch.full_like(clean, 0.7))
            loss = ((net(noisy) - clean) ** 2).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net'''}),
    # Edits a test cell (restored before grading) and forgets the pepper: loses 1.
    Student("edits-a-test", 9, status="tampered", tamper={"test-salt-and-pepper": "pass"}, answers={
        "ex-salt-and-pepper": '''def salt_and_pepper(x, p, rng, low=0.0, high=1.0):
    corrupted = rng.random(x.shape) < p
    return np.where(corrupted, high, x).astype(x.dtype), corrupted'''}),
]
