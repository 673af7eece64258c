"""Lesson 06-convolutional: the class and the grade each student must get (8 autograded points).

Points: test-conv-output-size 2, test-conv-transpose-output-size 2, test-transposed-as-conv 2,
test-train-conv 2 (and the written question, 2, graded by hand).
"""

from tests.classes import Student

NO_OUTPUT_PADDING = '''def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1'''

# the same forgotten output padding in the rewrite: the padding is k-1-p on both sides, never + o at the end
REWRITE_NO_OUTPUT_PADDING = '''def transposed_as_convolution(x, weight, stride=1, padding=0, output_padding=0):
    n, c_in, height, width = x.shape
    kh, kw = weight.shape[-2:]
    spread = x.new_zeros(n, c_in, (height - 1) * stride + 1, (width - 1) * stride + 1)
    spread[:, :, ::stride, ::stride] = x
    ph, pw = kh - 1 - padding, kw - 1 - padding
    return torch.nn.functional.pad(spread, (pw, pw, ph, ph)), weight.transpose(0, 1).flip(-2, -1)'''

STUDENTS = [
    Student("reference", 8),
    Student("blank", 0, blank=True),
    # off by one whenever output_padding is 1, in the size formula and in the rewrite
    Student("forgets-output-padding", 4, answers={"ex-conv-transpose-output-size": NO_OUTPUT_PADDING,
                                                  "ex-transposed-as-conv": REWRITE_NO_OUTPUT_PADDING}),
    Student("written-differently", 8, answers={
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
        "ex-transposed-as-conv": '''import numpy as np
import torch

def transposed_as_convolution(x, weight, stride=1, padding=0, output_padding=0):
    """Zero insertion by a Kronecker product with a one-hot s x s block, padding and flipping in NumPy."""
    a, w = x.detach().numpy(), weight.detach().numpy()
    kh, kw = w.shape[-2:]
    block = np.zeros((stride, stride), dtype=a.dtype)
    block[0, 0] = 1
    spread = np.kron(a, block)[..., : (a.shape[-2] - 1) * stride + 1, : (a.shape[-1] - 1) * stride + 1]
    big = np.pad(spread, [(0, 0), (0, 0), (kh - 1 - padding, kh - 1 - padding + output_padding),
                          (kw - 1 - padding, kw - 1 - padding + output_padding)])
    return torch.from_numpy(big), torch.from_numpy(np.swapaxes(w, 0, 1)[:, :, ::-1, ::-1].copy())''',
        "ex-train-conv": '''import torch
from torch import nn

class ResizeConvDecoder(nn.Module):
    """Bilinear resizing by nn.Upsample, in one nn.Sequential."""
    def __init__(self, code_channels=2, channels=(32, 16)):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(code_channels, channels[0], 1), nn.ReLU(),
                                 nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(channels[0], channels[1], 3, padding=1),
                                 nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear"),
                                 nn.Conv2d(channels[1], 1, 3, padding=1), nn.Sigmoid())

    def forward(self, h):
        return self.net(h)

class PoolResizeAutoencoder(nn.Module):
    """Max pooling down, bilinear resizing up; code 2 x 4 x 4."""
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 2, 1))
        self.dec = ResizeConvDecoder(2, (32, 16))

    def encode(self, x):
        return self.enc(x.reshape(-1, 1, 16, 16))

    def decode(self, h):
        return self.dec(h).flatten(1)

    def forward(self, x):
        return self.decode(self.encode(x))

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
    Student("no-convolution", 6, answers={"ex-train-conv": '''def train_conv_autoencoder(x_train, seed=0):
    model = models.mlp_autoencoder([SIZE * SIZE, 32], output_activation="sigmoid", seed=seed)
    train.fit(model, x_train, num_epochs=12, lr=4e-3, seed=seed, progress=False)
    return model'''}),
    Student("edits-a-test", 6, status="tampered", tamper={"test-conv-transpose-output-size": "pass"},
            answers={"ex-conv-transpose-output-size": NO_OUTPUT_PADDING}),
]
