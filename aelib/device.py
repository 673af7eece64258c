"""Choose where tensors live: CUDA, then Apple's MPS, then the CPU.

Set the environment variable ``AELIB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) to override
the choice, for example ``AELIB_DEVICE=cpu`` to compare timings on a machine with a GPU.
"""

import os

import torch

ENV_VAR = "AELIB_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _check_available(device: torch.device) -> None:
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{ENV_VAR} asks for {device}, but this PyTorch build sees no CUDA GPU. "
            f"Unset {ENV_VAR} to fall back to the CPU, or install a CUDA build of PyTorch."
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{ENV_VAR} asks for {device}, but only {torch.cuda.device_count()} CUDA device(s) exist."
        )
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"{ENV_VAR} asks for mps, but the MPS backend is not available here.")


def pick_device() -> torch.device:
    """Return the device to compute on: ``$AELIB_DEVICE`` if set, else cuda, then mps, then cpu."""
    requested = os.environ.get(ENV_VAR, "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(
                f"{ENV_VAR}={requested!r} is not a device name; use cpu, cuda, cuda:N or mps."
            ) from err
        _check_available(device)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device) -> str:
    """Where a lesson computes, in words a student understands (one line to print)."""
    device = torch.device(device)
    chosen = f" ({ENV_VAR}={os.environ[ENV_VAR].strip()})" if os.environ.get(ENV_VAR, "").strip() else ""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"computing on {device} ({torch.cuda.get_device_name(index)}){chosen}"
    if device.type == "mps":
        return f"computing on mps (the Apple GPU){chosen}"
    if chosen:
        return f"computing on the CPU{chosen}; every cell runs in seconds"
    return "computing on the CPU: no GPU found; every cell still runs in seconds"
