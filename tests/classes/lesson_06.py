"""Lesson 06-convolutional: the class and the grade each student must get (6 autograded points)."""

from tests.classes import Student

NO_OUTPUT_PADDING = '''def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1'''

STUDENTS = [
    Student("reference", 6),
    Student("blank", 0, blank=True),
    # off by one whenever output_padding is 1: the stamps' extent is right, the extra row is forgotten
    Student("forgets-output-padding", 4, answers={"ex-conv-transpose-output-size": NO_OUTPUT_PADDING}),
    Student("written-differently", 6, answers={
        "ex-conv-output-size": '''def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1          # pixels the dilated kernel covers
    count, start = 0, 0
    while start + span <= n + 2 * padding:           # count the positions where it fits
        count += 1
        start += stride
    return count''',
        "ex-conv-transpose-output-size": '''def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    # the last pixel any stamp reaches, then crop the padding and add the output padding
    last = max(i * stride + j * dilation for i in range(n) for j in range(kernel_size))
    return last + 1 - 2 * padding + output_padding''',
        "ex-train-conv": '''import torch
from torch import nn

class PoolResizeAutoencoder(nn.Module):
    """Max pooling down, nearest resizing up; code 2 x 4 x 4."""
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 2, 1))
        self.dec = nn.Sequential(nn.Conv2d(2, 16, 1), nn.ReLU(), nn.Upsample(scale_factor=2),
                                 nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
                                 nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid())

    def encode(self, x):
        return self.enc(x.reshape(-1, 1, 16, 16))

    def forward(self, x):
        return self.dec(self.encode(x)).reshape(len(x), -1)

def train_conv_autoencoder(x_train, seed=0):
    torch.manual_seed(seed)
    model = PoolResizeAutoencoder()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    x = torch.as_tensor(x_train, dtype=torch.float32)
    for epoch in range(15):
        for batch in torch.randperm(len(x)).split(32):
            loss = ((model(x[batch]) - x[batch]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model'''}),
    # a fully connected network meets the code and parameter limits, but the exercise is about convolutions
    Student("no-convolution", 4, answers={"ex-train-conv": '''def train_conv_autoencoder(x_train, seed=0):
    model = models.mlp_autoencoder([SIZE * SIZE, 32], output_activation="sigmoid", seed=seed)
    train.fit(model, x_train, num_epochs=12, lr=4e-3, seed=seed, progress=False)
    return model'''}),
    Student("edits-a-test", 4, status="tampered", tamper={"test-conv-transpose-output-size": "pass"},
            answers={"ex-conv-transpose-output-size": NO_OUTPUT_PADDING}),
]
