"""The judge: a trusted process that decides every test cell's verdict without running student code.

``python -m autograder.judge --serve SOURCE_NOTEBOOK FD`` is a fork server (:func:`serve`): for
each notebook it forks a judge that reads commands on its stdin and answers on its stdout, one
JSON line each (see :class:`Channel`). For ``{"run": GRADE_ID}`` it runs, in
its own namespace, the instructor's code up to that test cell (:func:`plan`) and then the test
cell's whole source, hidden tests included, all taken from the course's source notebook. The
names of the exercise's API are :class:`Remote` stubs: calling one writes the arguments as plain
data (:mod:`autograder.crossing`) into the notebook's inbox folder (read-only for the kernel), asks the grader to run the
student's function in the student's kernel, and reads the result from a named pipe it made there. The verdict is
the judge's: the test passed when its code raised nothing. The judge never imports, executes or
unpickles student code, and never sees the kernel's outputs.
"""

import ast
import builtins
import json
import os
import random
import signal
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import torch

from autograder import crossing

BUILTINS = frozenset(dir(builtins))


# ---- which instructor code the tests need ----------------------------------------------------------


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's magics turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _stored(node, modules: frozenset = frozenset()) -> set[str]:
    """Names a statement binds or changes in place at the top level (not inside functions it defines).

    A statement ``obj.method(...)`` counts as changing ``obj``, unless ``obj`` is one of ``modules``
    (``plt.show()``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    names = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                                ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if current is not node and hasattr(current, "name"):
                names.add(current.name)
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            names.add(current.id)
        if isinstance(current, (ast.Subscript, ast.Attribute)) and isinstance(current.ctx, ast.Store):
            base = current
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
        if isinstance(current, ast.Expr) and isinstance(current.value, ast.Call) and isinstance(current.value.func, ast.Attribute):
            base = current.value.func.value  # a statement obj.method(...) may change obj
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name) and base.id not in modules:
                names.add(base.id)
        stack.extend(ast.iter_child_nodes(current))
    return names


def _loaded(node) -> set[str]:
    """Names a statement reads from the enclosing namespace (a function's own arguments and locals excluded)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = node.args
        own = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
        own |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            own |= _stored(statement) if not isinstance(statement, ast.expr) else set()
        outer = set()
        for default in arguments.defaults + [d for d in arguments.kw_defaults if d is not None]:
            outer |= _loaded(default)
        for decorator in getattr(node, "decorator_list", []):
            outer |= _loaded(decorator)
        inner = set().union(*(_loaded(s) for s in body)) if body else set()
        return outer | (inner - own)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        own = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        return set().union(*(_loaded(c) for c in ast.iter_child_nodes(node))) - own
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return {node.target.id} | _loaded(node.value)
    return set().union(*(_loaded(c) for c in ast.iter_child_nodes(node))) if list(ast.iter_child_nodes(node)) else set()


COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)


def _free(statements: list) -> set[str]:
    """Names a cell reads before it binds them itself (a loop's or block's own names count as its own)."""
    bound, free = set(), set()
    for statement in statements:
        own = _stored(statement) if isinstance(statement, COMPOUND) else set()
        free |= _loaded(statement) - bound - own
        bound |= _stored(statement)
    return free - BUILTINS


@dataclass
class Step:
    """One thing the judge does, in the notebook's order: ``code`` to run, ``api`` names to stub, or a ``test``."""

    kind: str  # "code", "api" or "test"
    source: str = ""
    grade_id: str = ""
    names: set = field(default_factory=set)


def _role(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type != "code":
        return "text"
    if meta.get("solution"):
        return "answer"
    if meta.get("grade"):
        return "test"
    return "code"


def plan(source_notebook) -> list[Step]:
    """What the judge runs for ``source_notebook`` (the instructor's, with hidden tests).

    Every test cell, whole. For every answer cell, stubs for the names its solution defines. Of the
    other cells, only the top-level statements that define what the tests read, directly or
    through other such statements (the data, helpers, locked values): a training run or a plot
    that no test reads is not repeated. Cells after the last graded cell are left out.
    """
    nb = nbformat.read(source_notebook, as_version=4)
    cells = [c for c in nb.cells if _role(c) != "text"]
    graded = [i for i, c in enumerate(cells) if _role(c) in ("answer", "test")]
    cells = cells[:max(graded, default=-1) + 1]
    entries = []
    for cell in cells:
        role, source = _role(cell), cell.source
        try:
            statements = ast.parse(_python(source)).body
        except SyntaxError:
            statements = []
        if role == "test":
            entries.append(("test", Step("test", source, cell.metadata["nbgrader"]["grade_id"]), _free(statements)))
        elif role == "answer":
            entries.append(("api", Step("api", names=set().union(*map(_stored, statements)) if statements else set()), set()))
        else:
            for statement in statements:
                entries.append(("code", statement, None))
    modules = frozenset().union(*(_stored(item) for kind, item, _ in entries
                                  if kind == "code" and isinstance(item, (ast.Import, ast.ImportFrom))))
    needed, keep = set(), set()
    for index in range(len(entries) - 1, -1, -1):
        kind, item, free = entries[index]
        if kind == "test":
            needed |= free
        elif kind == "api":
            needed -= item.names
        elif _stored(item, modules) & needed:
            keep.add(index)
            binds_for_sure = isinstance(item, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom,
                                               ast.FunctionDef, ast.ClassDef))
            stored = _stored(item, modules)
            needed = (needed - stored if binds_for_sure else needed) | (_loaded(item) - BUILTINS)
            needed |= _loaded(item) & stored  # changed in place: its earlier value counts
    steps = []
    for index, (kind, item, _) in enumerate(entries):
        if kind != "code":
            steps.append(item)
        elif index in keep:
            steps.append(Step("code", ast.unparse(item)))
    return steps


# ---- talking to the grader, and through it to the kernel -----------------------------------------


class StudentError(Exception):
    """The student's function raised (``ename``: what it raised), or its answer could not be used."""

    def __init__(self, message: str, ename: str = "StudentError"):
        super().__init__(message)
        self.ename = ename


class Channel:
    """JSON lines with the grader: the judge asks ``{"call": ..., "id": k}`` and reads ``{"answered": k}``
    (the kernel wrote its reply) or ``{"failed": k, "ename": ..., "evalue": ...}`` (it did not)."""

    def __init__(self, inbox: Path, reader, writer):
        self.inbox, self.reader, self.writer = inbox, reader, writer
        self.count = 0

    def send(self, message: dict) -> None:
        self.writer.write(json.dumps(message) + "\n")
        self.writer.flush()

    def receive(self) -> dict:
        line = self.reader.readline()
        if not line:
            sys.exit(0)  # the grader went away
        return json.loads(line)

    def ask(self, kind: str, name: str, payload) -> object:
        """Have the kernel run ``kind`` (``call`` or ``vjp``) on ``name`` with ``payload``; (call id, its reply)."""
        self.count += 1
        call_id = f"c{self.count}"
        request, reply = self.inbox / f"{call_id}.npz", self.inbox / f"{call_id}.reply"
        crossing.write(request, payload)
        os.mkfifo(reply)
        os.chmod(reply, 0o622)  # the kernel's user may write into it (and into nothing else in the folder)
        pipe = _PipeReader(reply)
        try:
            self.send({"kind": kind, "name": name, "id": call_id})
            answer = self.receive()
            data = pipe.finish()
        finally:
            request.unlink(missing_ok=True)
            reply.unlink(missing_ok=True)
        if "failed" in answer:
            raise KernelGone(answer.get("ename", "KernelError"), answer.get("evalue", ""))
        try:
            return call_id, crossing.loads(data)
        except Exception as err:
            raise StudentError(f"the answer could not be read: {err}") from None


class _PipeReader:
    """Reads one answer from a named pipe in a thread of its own, at most ``crossing.MAX_BYTES``."""

    def __init__(self, path: Path):
        self.path, self.data = path, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as pipe:  # waits for the kernel to open its end
            self.data = pipe.read(crossing.MAX_BYTES + 1)

    def finish(self, seconds: float = 30) -> bytes:
        """The bytes the kernel sent, once it has closed its end (an empty answer if it never wrote)."""
        self.thread.join(0.05)
        if self.thread.is_alive():  # the kernel never opened the pipe: open it here, so the reader sees an end
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            self.thread.join(seconds)
        if self.thread.is_alive():
            raise StudentError("the answer never ended: something in the kernel kept its pipe open")
        return self.data


class KernelGone(Exception):
    """The kernel did not answer: it timed out or died. ``args``: (ename, evalue)."""


_CHANGEABLE = (np.ndarray, torch.Tensor, dict, list, tuple, np.random.Generator, torch.Generator)


def _write_back(original, after) -> None:
    """Make ``original`` (an argument the test passed) look as the student's function left it."""
    if isinstance(original, np.ndarray) and isinstance(after, np.ndarray):
        if original.shape == after.shape and original.flags.writeable and not np.array_equal(original, after, equal_nan=True):
            original[...] = after
    elif isinstance(original, torch.Tensor) and isinstance(after, torch.Tensor):
        if original.shape == after.shape and not torch.equal(original.detach(), after.detach()):
            with torch.no_grad():
                original.copy_(after)
    elif isinstance(original, dict) and isinstance(after, dict):
        for key in list(original):
            if key in after:
                if isinstance(original[key], _CHANGEABLE):
                    _write_back(original[key], after[key])
                else:
                    original[key] = after[key]
            else:
                del original[key]
        for key in after:
            if key not in original:
                original[key] = after[key]
    elif isinstance(original, list) and isinstance(after, list):
        for i, value in enumerate(after[:len(original)]):
            if isinstance(original[i], _CHANGEABLE):
                _write_back(original[i], value)
            else:
                original[i] = value
        del original[len(after):]
        original.extend(after[len(original):])
    elif isinstance(original, tuple) and isinstance(after, tuple):
        for a, b in zip(original, after):
            _write_back(a, b)
    elif isinstance(original, np.random.Generator) and isinstance(after, np.random.Generator):
        original.bit_generator.state = after.bit_generator.state
    elif isinstance(original, torch.Generator) and isinstance(after, torch.Generator):
        original.set_state(after.get_state())


def _mirror_random(touched: list) -> None:
    """Draw once from each global generator the student's function drew from, as it would have here."""
    if "torch" in touched:
        torch.rand(1)
    if "numpy" in touched:
        np.random.random()
    if "random" in touched:
        random.random()


class Remote:
    """A name of the exercise's API in the judge: calling it runs the student's function in their kernel."""

    def __init__(self, name: str, channel: Channel):
        self.__name__ = self.name = name
        self.channel = channel

    def __repr__(self):
        return f"<the student's {self.name}>"

    def __call__(self, *args, **kwargs):
        try:
            call_id, reply = self.channel.ask("call", self.name, [list(args), kwargs])
        except crossing.CrossingError as err:
            raise StudentError(f"{self.name} was called with a value the grader cannot pass: {err}") from None
        if not isinstance(reply, dict):
            raise StudentError(f"{self.name}: the kernel's answer is not in the grader's format")
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            where = "\n".join(str(w) for w in error.get("where", []))
            ename = str(error.get("type", "Error"))
            raise StudentError(f"{self.name} raised {ename}: {error.get('message', '')}" + (f"\n{where}" if where else ""),
                               ename if ename.isidentifier() else "StudentError")
        after = reply.get("args")
        if isinstance(after, list) and len(after) == 2:
            _write_back(list(args), list(after[0]) if isinstance(after[0], list) else [])
            _write_back(kwargs, after[1] if isinstance(after[1], dict) else {})
        _mirror_random(reply.get("touched") or [])
        return self._differentiable(call_id, reply.get("result"), [list(args), kwargs])

    def _differentiable(self, call_id: str, result, inputs):
        """``result``, where it depends on inputs that require grad, connected to them by the kernel's gradients."""
        from autograder.answer import _tensors

        needs = [t for t in _tensors(inputs) if isinstance(t, torch.Tensor) and t.requires_grad]
        outputs = [t for t in _tensors(result) if isinstance(t, torch.Tensor) and t.requires_grad]
        if not needs or not outputs:
            return result
        connected = _Gradients.apply(self, call_id, len(outputs), *outputs, *needs)
        swap = dict(zip(map(id, outputs), connected if isinstance(connected, tuple) else (connected,)))
        return _replace(result, swap)


def _replace(value, swap: dict):
    if id(value) in swap:
        return swap[id(value)]
    if isinstance(value, list):
        return [_replace(v, swap) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace(v, swap) for v in value)
    if isinstance(value, dict):
        return {k: _replace(v, swap) for k, v in value.items()}
    return value


class _Gradients(torch.autograd.Function):
    """The student's result tensors, whose backward asks the kernel for vector-Jacobian products."""

    @staticmethod
    def forward(ctx, remote, call_id, count, *tensors):
        ctx.remote, ctx.call_id, ctx.count = remote, call_id, count
        ctx.inputs = [t.detach() for t in tensors[count:]]
        outputs = tuple(t.detach().clone() for t in tensors[:count])
        return outputs if count > 1 else outputs[0]

    @staticmethod
    def backward(ctx, *cotangents):
        _, reply = ctx.remote.channel.ask("vjp", ctx.call_id, [c.detach() for c in cotangents])
        if not isinstance(reply, dict) or "result" not in reply:
            message = reply.get("error", {}).get("message", "") if isinstance(reply, dict) else ""
            raise StudentError(f"{ctx.remote.name}: its gradient could not be computed in the kernel: {message}")
        grads = [g.to(i.dtype) if isinstance(g, torch.Tensor) else None for g, i in zip(reply["result"], ctx.inputs)]
        return (None, None, None, *[None] * ctx.count, *grads)


# ---- running tests -------------------------------------------------------------------------------


def _verdict(grade_id: str, err: BaseException | None) -> dict:
    """A test's outcome as the grader writes it into the graded notebook."""
    if err is None:
        return {"verdict": grade_id, "passed": True}
    if isinstance(err, KernelGone):
        ename, evalue = err.args
    else:
        ename, evalue = getattr(err, "ename", type(err).__name__), str(err)
    return {"verdict": grade_id, "passed": False, "ename": ename, "evalue": evalue[:4000]}


class Judge:
    """Runs a lesson's plan step by step, in one namespace, and answers each test's verdict."""

    def __init__(self, source_notebook: Path, channel: Channel):
        self.steps = plan(source_notebook)
        self.channel = channel
        self.position = 0
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}

    def run(self, grade_id: str) -> dict:
        """Run the plan up to the test ``grade_id``, then the test; its verdict."""
        tests = [i for i, s in enumerate(self.steps) if s.kind == "test" and s.grade_id == grade_id]
        if not tests:
            return _verdict(grade_id, LookupError(f"{grade_id} is not a test of this lesson"))
        target = tests[0]
        if target < self.position:  # asked again (a repeated cell): run the test alone
            return self._test(self.steps[target])
        for step in self.steps[self.position:target]:
            self._prepare(step)
        self.position = target + 1
        return self._test(self.steps[target])

    def _prepare(self, step: Step) -> None:
        if step.kind == "api":
            for name in step.names:
                self.namespace[name] = Remote(name, self.channel)
        elif step.kind == "code":
            try:
                exec(compile(step.source, "<instructor's code>", "exec"), self.namespace)
            except Exception:
                traceback.print_exc(file=sys.stderr)

    def _test(self, step: Step) -> dict:
        try:
            exec(compile(_python(step.source), f"<test {step.grade_id}>", "exec"), self.namespace)
        except (Exception, SystemExit) as err:
            return _verdict(step.grade_id, err)
        return _verdict(step.grade_id, None)


def judge(source: Path, inbox: Path, reader, writer) -> None:
    """Answer the grader's commands on ``reader``/``writer`` for one notebook, until the grader goes away."""
    channel = Channel(inbox, reader, writer)
    judge = Judge(source, channel)
    channel.send({"ready": True})
    while True:
        command = channel.receive()
        channel.send(judge.run(str(command.get("run"))))


# ---- one judge per notebook, forked from a process that has imported everything once ------------------

PRELOAD = ("IPython.core.inputtransformer2", "sklearn.datasets")  # imported on first use by _python and aelib.data


def _preload(steps: list[Step]) -> None:
    """Import the modules the lesson's trusted code imports (and PRELOAD), and nothing else of it."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for step in steps:
        if step.kind != "code":
            continue
        for node in ast.parse(step.source).body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:  # `from aelib import data`: submodules
                    if not hasattr(module, alias.name):
                        importlib.import_module(f"{node.module}.{alias.name}")


def serve(source: Path, sock: socket.socket) -> None:
    """The fork server: import once, then fork a judge for each ``{"inbox": PATH}`` the grader sends.

    Each request comes with two file descriptors (the judge's stdin and stdout) over the Unix
    socket ``sock``; the answer is ``{"pid": PID}`` of the judge, which leads a process group of its
    own. Starting torch, NumPy and the lesson's imports costs seconds per process; a fork costs
    milliseconds. Nothing here computes (no thread pools exist yet), so forking is safe.
    """
    _preload(plan(source))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # judges are reaped as they end
    while True:
        message, fds, _, _ = socket.recv_fds(sock, 65536, 2)
        if not message:
            return  # the grader went away
        inbox = Path(json.loads(message)["inbox"])
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                os.dup2(fds[0], 0)
                os.dup2(fds[1], 1)
                judge(source, inbox, *_protocol())
            except SystemExit as end:
                code = end.code if isinstance(end.code, int) else 0
            except BaseException:
                traceback.print_exc(file=sys.stderr)
                code = 1
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps({"pid": pid}).encode())


def _protocol():
    """(reader, writer) of the protocol on fds 0 and 1; whatever the tests print goes to stderr."""
    reader = os.fdopen(0, "r", closefd=False)
    writer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return reader, writer


def main(argv: list[str]) -> None:
    """``--serve SOURCE_NOTEBOOK FD``: the fork server of that lesson, on the Unix socket FD."""
    if len(argv) != 3 or argv[0] != "--serve":
        sys.exit("usage: python -m autograder.judge --serve SOURCE_NOTEBOOK FD")
    serve(Path(argv[1]), socket.socket(fileno=int(argv[2])))


if __name__ == "__main__":
    main(sys.argv[1:])
