"""The student's kernel side of a judge's call: run one function of the exercise's API on plain data.

The grader runs ``answer.call(name, request, reply)`` in the student's kernel. It reads the
arguments from the file ``request`` (written by the judge), calls the notebook's ``name`` and
writes into the named pipe ``reply`` (made by the judge, read by the judge) what it needs to decide: the result, the arguments as they are afterwards (a
function that changes its input is seen doing so), which global random generators it drew from,
or the error it raised. Nothing here decides a verdict: this code runs with the student's, and
whatever it writes is only data that the judge checks.

A tensor result that depends on an argument with ``requires_grad`` is kept here, so the judge can
ask for vector-Jacobian products (:func:`vjp`) when its test calls ``backward``.
"""

import random
import sys
import traceback

import numpy as np

from autograder import crossing

_kept: dict = {}  # call id -> (result tensors, argument tensors that require grad)


def _namespace() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else vars(sys.modules["__main__"])


def _random_states():
    import torch

    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def _touched(before, after) -> list[str]:
    names = []
    if not bool((before[0] == after[0]).all()):
        names.append("torch")
    if not np.array_equal(before[1], after[1]):
        names.append("numpy")
    if before[2] != after[2]:
        names.append("random")
    return names


def _tensors(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _first_batch(args):
    """The first array or tensor among the arguments, the example a returned model is traced on."""
    import torch

    for arg in args:
        if isinstance(arg, (np.ndarray, torch.Tensor)) and arg.ndim >= 2:
            return arg
    return None


def _error(err: BaseException) -> dict:
    frames = traceback.extract_tb(err.__traceback__)[1:]  # the student's frames, not this module's
    where = [f"  {f.filename}, line {f.lineno}, in {f.name}" for f in frames if "autograder" not in f.filename][-5:]
    return {"error": {"type": type(err).__name__, "message": str(err)[:2000], "where": where}}


def _send(reply: str, data: bytes) -> None:
    with open(reply, "wb") as pipe:
        pipe.write(data)


def call(name: str, request: str, reply: str, call_id: str) -> None:
    """Call the notebook's ``name`` with the arguments in ``request``; send the outcome to ``reply``."""
    try:
        data = _call(name, request, call_id)
    except BaseException as err:  # the grader's own failure here: say so in the reply, and in the log
        traceback.print_exc(file=sys.__stderr__)
        data = crossing.dumps({"error": {"type": "GraderError", "message": f"{type(err).__name__}: {err}", "where": []}})
    _send(reply, data)


def _call(name: str, request: str, call_id: str) -> bytes:
    args, kwargs = crossing.read(request)
    function = _namespace().get(name)
    if function is None:
        return crossing.dumps({"error": {"type": "NameError", "message": f"{name} is not defined: run its cell", "where": []}})
    inputs = [t for t in _tensors([args, kwargs]) if t.requires_grad]
    before = _random_states()
    try:
        result = function(*args, **kwargs)
    except Exception as err:
        return crossing.dumps(_error(err))
    outcome = {"result": result, "args": [args, kwargs], "touched": _touched(before, _random_states())}
    if inputs:
        outputs = [t for t in _tensors(result) if t.requires_grad]
        if outputs:
            _kept[call_id] = (outputs, inputs)
    try:
        return crossing.dumps(outcome, example=_first_batch(args))
    except crossing.CrossingError as err:
        return crossing.dumps({"error": {"type": "CrossingError", "message": str(err), "where": []}})


def vjp(call_id: str, request: str, reply: str) -> None:
    """Gradients of the kept call's result tensors, weighted by the ``request``'s cotangents, with
    respect to its arguments that require grad (zeros where an argument was not used)."""
    import torch

    try:
        outputs, inputs = _kept[call_id]
        cotangents = crossing.read(request)
        grads = torch.autograd.grad(outputs, inputs, [c.to(o.dtype) for o, c in zip(outputs, cotangents)],
                                    retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(i) if g is None else g for g, i in zip(grads, inputs)]
        data = crossing.dumps({"result": grads})
    except Exception as err:
        data = crossing.dumps(_error(err))
    _send(reply, data)
