import pytest
import torch

from aelib import device


@pytest.fixture
def no_override(monkeypatch):
    monkeypatch.delenv(device.ENV_VAR, raising=False)


def _available(monkeypatch, cuda: bool, mps: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(device, "_mps_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_preference_order(monkeypatch, no_override, cuda, mps, expected):
    _available(monkeypatch, cuda, mps)
    assert device.pick_device().type == expected


def test_cpu_here_without_accelerator(no_override):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert device.pick_device() in (torch.device("cpu"), torch.device("mps"))


def test_environment_overrides(monkeypatch):
    _available(monkeypatch, cuda=True, mps=False)
    monkeypatch.setenv(device.ENV_VAR, "cpu")
    assert device.pick_device() == torch.device("cpu")


def test_unavailable_request_says_so(monkeypatch):
    _available(monkeypatch, cuda=False, mps=False)
    monkeypatch.setenv(device.ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        device.pick_device()
    monkeypatch.setenv(device.ENV_VAR, "mps")
    with pytest.raises(RuntimeError, match="MPS"):
        device.pick_device()


def test_bad_name(monkeypatch):
    monkeypatch.setenv(device.ENV_VAR, "gpu-please")
    with pytest.raises(ValueError, match="not a device name"):
        device.pick_device()


def test_a_student_is_told_where_the_lesson_computes(monkeypatch, no_override):
    _available(monkeypatch, cuda=False, mps=False)
    assert device.describe(device.pick_device()) == "computing on the CPU: no GPU found; every cell still runs in seconds"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA Example 80GB")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert device.describe(torch.device("cuda")) == "computing on cuda (NVIDIA Example 80GB)"
    assert device.describe(torch.device("mps")) == "computing on mps (the Apple GPU)"
    monkeypatch.setenv(device.ENV_VAR, "cpu")
    assert device.describe(device.pick_device()) == "computing on the CPU (AELIB_DEVICE=cpu); every cell runs in seconds"


def test_the_grader_computes_where_the_instructor_says(tmp_path):
    import json

    from autograder.__main__ import _parser
    from autograder.course import GRADER_KERNEL, write_kernel

    def kernel_device(**kwargs):
        folder = write_kernel(tmp_path, 1024, 1, **kwargs)
        return json.loads((folder / "kernels" / GRADER_KERNEL / "kernel.json").read_text())["env"][device.ENV_VAR]

    assert kernel_device() == "cpu", "grades are reproducible: the CPU unless the instructor asks"
    assert kernel_device(device="cuda:1") == "cuda:1"
    assert _parser().parse_args(["grade", "01-copy-through", "x", "--out", "y"]).device == "cpu"
    assert _parser().parse_args(["grade", "01-copy-through", "x", "--out", "y", "--device", "cuda"]).device == "cuda"
