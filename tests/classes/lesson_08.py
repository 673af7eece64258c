'''Lesson 08-beyond: the class and the grade each student must get (10 autograded points:
codes gradient 2, ISTA step 2, semantic hashing 2, ROC AUC 1, anomaly detector 2, threshold detector 1).'''

from tests.classes import Student

STUDENTS = [
    Student("reference", 10),
    Student("blank", 0, blank=True),
    # hard thresholding instead of soft (-2) and a hashing code layer without noise (-2)
    Student("hard-threshold-no-noise", 6, answers={
        "ex-ista-step": '''def ista_step(h, grad, lam, step):
    v = h - step * grad
    return v * (np.abs(v) > step * lam)''',
        "ex-train-hashing": '''def train_semantic_hashing(x_train, seed=0):
    torch.manual_seed(seed)
    d = x_train.shape[1]
    encoder = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, 16), nn.Sigmoid())
    decoder = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, d), nn.Sigmoid())
    model = models.Autoencoder(encoder, decoder, d)
    train.fit(model, x_train, num_epochs=60, batch_size=128, lr=3e-3, seed=seed, progress=False)
    return model.eval()'''}),
    # the residual the wrong way round (-2), ties counted as losses (-1) and a score on the threshold flagged (-1)
    Student("sign-and-ties", 6, answers={
        "ex-threshold": '''def threshold_detector(scores_normal, scores, is_anomaly, quantile=0.95):
    threshold = float(np.quantile(scores_normal, quantile))
    flagged = np.asarray(scores) >= threshold
    anomaly = np.asarray(is_anomaly).astype(bool)
    hits = int((flagged & anomaly).sum())
    return threshold, hits / max(int(flagged.sum()), 1), hits / int(anomaly.sum())''',
        "ex-codes-gradient": '''def codes_gradient(h, x, W_dec):
    return (x - h @ W_dec) @ W_dec.T''',
        "ex-roc-auc": '''def roc_auc(scores, is_anomaly):
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(is_anomaly).astype(bool)
    return float((scores[y][:, None] > scores[~y][None, :]).mean())'''}),
    Student("written-differently", 10, answers={
        "ex-threshold": '''def threshold_detector(scores_normal, scores, is_anomaly, quantile=0.95):
    threshold = np.percentile(np.array(scores_normal, dtype=float), 100 * quantile)   # the same linear interpolation
    anomaly = np.array(is_anomaly) != 0
    flagged_anomalies = np.count_nonzero(np.array(scores, dtype=float)[anomaly] > threshold)
    flagged = np.count_nonzero(np.array(scores, dtype=float) > threshold)
    precision = 0.0 if flagged == 0 else flagged_anomalies / flagged
    return float(threshold), float(precision), flagged_anomalies / np.count_nonzero(anomaly)''',
        "ex-codes-gradient": '''def codes_gradient(h, x, W_dec):
    h, x, W = (np.asarray(a, dtype=np.float32) for a in (h, x, W_dec))
    grad = np.zeros(h.shape, dtype=np.float32)
    for n in range(h.shape[0]):
        residual = h[n] @ W - x[n]            # (D,)
        for k in range(h.shape[1]):
            grad[n, k] = np.dot(residual, W[k])
    return grad''',
        "ex-ista-step": '''def ista_step(h, grad, lam, step):
    v = h - step * grad
    tau = step * lam
    return v - np.clip(v, -tau, tau)          # the same soft threshold, another formula''',
        "ex-roc-auc": '''def roc_auc(scores, is_anomaly):
    from scipy.stats import rankdata
    y = np.asarray(is_anomaly).astype(bool)
    ranks = rankdata(np.asarray(scores, dtype=float))   # ties get their mean rank
    n_pos, n_neg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))''',
        "ex-train-hashing": '''class Hasher(nn.Module):
    def __init__(self, d, bits=16):
        super().__init__()
        self.encoder_body = nn.Sequential(nn.Linear(d, 96), nn.Tanh(), nn.Linear(96, bits))
        self.decoder = nn.Sequential(nn.Linear(bits, 96), nn.Tanh(), nn.Linear(96, d), nn.Sigmoid())

    def encoder(self, x):
        a = self.encoder_body(x)
        if self.training:
            a = a + 4.0 * torch.randn_like(a)
        return torch.sigmoid(a)

    def forward(self, x):
        return self.decoder(self.encoder(x))

def train_semantic_hashing(x_train, seed=0):
    torch.manual_seed(seed)
    model = Hasher(x_train.shape[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.as_tensor(x_train)
    for epoch in range(60):
        for batch in torch.randperm(len(x)).split(128):
            loss = ((model(x[batch]) - x[batch]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model''',
        "ex-train-anomaly": '''class Detector(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 100), nn.ELU(), nn.Linear(100, 14), nn.ELU(),
                                 nn.Linear(14, 100), nn.ELU(), nn.Linear(100, d), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)

def train_anomaly_detector(x_normal, seed=0):
    torch.manual_seed(seed)
    model = Detector(x_normal.shape[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.as_tensor(x_normal)
    for epoch in range(80):
        for batch in torch.randperm(len(x)).split(128):
            loss = ((model(x[batch]) - x[batch]) ** 2).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model'''}),
    Student("edits-a-test", 9, status="tampered", tamper={"test-roc-auc": "pass"}, answers={
        "ex-roc-auc": '''def roc_auc(scores, is_anomaly):
    return 0.5'''}),
]
