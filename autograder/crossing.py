"""The one format in which values cross between the student's kernel and the judge: plain data.

A message is the bytes of a ``.npz`` file read with ``np.load(allow_pickle=False)``: one JSON
manifest (the tree of the value) and the arrays it refers to. The judge writes its requests as
files the kernel can only read; the kernel answers through a named pipe the judge made. What can
cross:

* ``None``, bools, ints, floats, strings; lists, tuples and dicts (string or int keys) of them;
* NumPy arrays and scalars of numeric or bool dtype, torch tensors (CPU copies, with
  ``requires_grad``), NumPy dtypes and torch dtypes;
* NumPy and torch random generators, as their state;
* a trained ``torch.nn.Module``, as the graphs of aten operations of :mod:`autograder.programs`
  (kernel to judge only).

Anything else raises :class:`CrossingError`, whose message tells the student what to return instead.
Reading a message never unpickles and refuses anything larger than ``MAX_BYTES``; reading a file
(:func:`read`) never follows a link and refuses anything but a regular file.
"""

import io
import json
import os
import stat

import numpy as np

MAX_BYTES = 512 * 1024 ** 2  # one message: far above what a lesson passes (its data set is about 1.5 MB)
MAX_MANIFEST_BYTES = 64 * 1024 ** 2  # the JSON tree alone (a list of ten million numbers is refused; send an array)
_MANIFEST = "__manifest__"
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class CrossingError(TypeError):
    """A value that cannot cross between the kernel and the judge."""


WHAT_CAN_CROSS = ("numbers, strings, booleans, None, lists, tuples and dicts of them, NumPy arrays, torch "
                  "tensors or a torch.nn.Module")


def _torch():
    import torch

    return torch


class _Writer:
    """Turns a value into a JSON tree plus the arrays it names."""

    def __init__(self, example=None):
        self.arrays: dict[str, np.ndarray] = {}
        self.example = example  # an input batch for exporting a model

    def array(self, value: np.ndarray) -> str:
        if value.dtype.kind not in "biufc":
            raise CrossingError(f"an array of dtype {value.dtype} cannot be graded: use a numeric or bool dtype")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(value, order="C")
        return key

    def tree(self, value, depth: int = 0):
        if depth > 50:
            raise CrossingError("the value is nested too deeply to be graded")
        if isinstance(value, np.generic):  # before float and int: np.float64 is a float
            return {"scalar": self.array(np.asarray(value))}
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int):
            return {"int": int.__repr__(value)} if abs(value) >= 2 ** 53 else int(value)
        if isinstance(value, float):
            return {"float": float.__repr__(value)}
        if isinstance(value, (list, tuple)):
            return {"list" if isinstance(value, list) else "tuple": [self.tree(v, depth + 1) for v in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
                raise CrossingError("dict keys must be strings or ints to be graded")
            return {"dict": [[k, self.tree(v, depth + 1)] for k, v in value.items()]}
        if isinstance(value, np.ndarray):
            return {"array": self.array(value)}
        if isinstance(value, np.dtype):
            return {"np_dtype": value.str}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"np_dtype": np.dtype(value).str}
        if isinstance(value, np.random.Generator):
            return {"np_generator": self.tree(value.bit_generator.state, depth + 1)}
        torch = _torch()
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            if tensor.dtype == torch.bfloat16 or tensor.dtype == torch.float16:
                raise CrossingError(f"a tensor of dtype {tensor.dtype} cannot be graded: use float32 or float64")
            return {"tensor": self.array(tensor.resolve_conj().resolve_neg().numpy()),
                    "requires_grad": bool(value.requires_grad)}
        if isinstance(value, torch.dtype):
            return {"torch_dtype": str(value).removeprefix("torch.")}
        if isinstance(value, torch.Size):
            return {"tuple": [int(v) for v in value]}
        if isinstance(value, torch.Generator):
            return {"torch_generator": self.array(value.get_state().numpy())}
        if isinstance(value, torch.nn.Module):
            from autograder.programs import export

            return {"model": export(value, self.example, self)}
        raise CrossingError(f"a value of type {type(value).__name__} cannot be graded: return {WHAT_CAN_CROSS}")


def dumps(value, example=None) -> bytes:
    """``value`` as a message; ``example`` is an input batch for exporting a model."""
    writer = _Writer(example)
    manifest = json.dumps(writer.tree(value))
    arrays = {_MANIFEST: np.frombuffer(manifest.encode(), dtype=np.uint8), **writer.arrays}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write(path, value, example=None) -> None:
    """Write ``value`` to a new message file ``path`` (whatever was there, a link included, is replaced)."""
    data = dumps(value, example)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as handle:
        handle.write(data)


def read_bytes(path, max_bytes: int = MAX_BYTES) -> bytes:
    """The content of ``path``, a regular file of at most ``max_bytes`` bytes, opened without following a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CrossingError("the answer is not a regular file")
        if info.st_size > max_bytes:
            raise CrossingError(f"the answer is {info.st_size / 1e6:.0f} MB, more than the {max_bytes / 1e6:.0f} MB allowed")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(max_bytes + 1)[:max_bytes]
    finally:
        os.close(fd)


class _Reader:
    def __init__(self, arrays):
        self.arrays = arrays

    def array(self, key) -> np.ndarray:
        if not isinstance(key, str) or key == _MANIFEST or key not in self.arrays.files:
            raise CrossingError("the answer refers to an array it does not hold")
        return self.arrays[key]

    def tree(self, node, depth: int = 0):
        if depth > 60:
            raise CrossingError("the answer is nested too deeply")
        if node is None or isinstance(node, (bool, int, str)):
            return node
        if isinstance(node, float):
            return node
        if not isinstance(node, dict) or len(node) not in (1, 2):
            raise CrossingError("the answer is not in the grader's format")
        kind, body = next(iter(node.items()))
        if kind == "int":
            return int(body)
        if kind == "float":
            return float(body)
        if kind in ("list", "tuple"):
            items = [self.tree(v, depth + 1) for v in body]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {k: self.tree(v, depth + 1) for k, v in body if isinstance(k, (str, int))}
        if kind == "array":
            return self.array(body)
        if kind == "scalar":
            return self.array(body)[()]
        if kind == "np_dtype":
            return np.dtype(str(body))
        if kind == "np_generator":
            return _np_generator(self.tree(body, depth + 1))
        torch = _torch()
        if kind == "tensor":
            tensor = torch.from_numpy(np.array(self.array(body)))
            return tensor.requires_grad_(bool(node.get("requires_grad"))) if tensor.is_floating_point() else tensor
        if kind == "torch_dtype":
            return torch_named(body, torch.dtype)
        if kind == "torch_generator":
            generator = torch.Generator()
            generator.set_state(torch.from_numpy(np.array(self.array(body), dtype=np.uint8)))
            return generator
        if kind == "model":
            from autograder.programs import GradedModel

            return GradedModel.from_manifest(body, self)
        raise CrossingError(f"the answer holds an unknown kind of value {kind!r}")


def torch_named(name, kind):
    """``torch.<name>`` when it is a ``kind`` (a dtype, a layout, a memory format); CrossingError otherwise."""
    found = getattr(_torch(), str(name), None)
    if not isinstance(found, kind):
        raise CrossingError(f"unknown {getattr(kind, '__name__', 'torch value')} {name!r}")
    return found


def _np_generator(state):
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise CrossingError(f"unknown NumPy bit generator {name!r}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def read(path, max_bytes: int = MAX_BYTES):
    """The value in the message file ``path`` (see :func:`read_bytes` for what is refused)."""
    return loads(read_bytes(path, max_bytes))


def loads(data: bytes):
    """The value in the message ``data``; :class:`CrossingError` for anything not in this format."""
    if len(data) > MAX_BYTES:
        raise CrossingError(f"the answer is {len(data) / 1e6:.0f} MB, more than the {MAX_BYTES / 1e6:.0f} MB allowed")
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        text = arrays[_MANIFEST]
        if text.nbytes > MAX_MANIFEST_BYTES:
            raise CrossingError("the answer holds too many separate numbers or strings: return an array instead")
        manifest = json.loads(bytes(text).decode())
    except CrossingError:
        raise
    except Exception as err:
        raise CrossingError(f"the answer could not be read ({type(err).__name__})") from None
    try:
        return _Reader(arrays).tree(manifest)
    except CrossingError:
        raise
    except Exception as err:  # e.g. an object array, refused by allow_pickle=False
        raise CrossingError(f"the answer could not be read ({type(err).__name__}: {err})") from None
