"""Undo, before every test cell, what student code may have changed to forge a test's verdict.

The grading kernel imports this module before any student code runs (:mod:`autograder.kernel`)
and it takes a snapshot of

* the libraries tests rely on (``TRUSTED_MODULES``: numpy's and torch's comparisons, ``math``,
  the builtins, aelib's checks, ...), and the Python classes of torch whose methods tests call;
* once IPython is up (:func:`snapshot_shell`), the shell's and the kernel's methods, the ways
  errors are reported (``sys.excepthook``, custom exception handlers, traceback display).

Before each test cell the grader runs :func:`restore`, which puts all of that back, re-imports
the instructor's imports into the notebook's namespace (a student's ``np = ...`` no longer counts)
and re-runs the instructor's locked cells (``DATASET``). So a patched ``numpy.allclose``, a
swallowed exception or a shadowed helper cannot turn a failing test into a pass.

This runs in the same process as the student's code: it closes the ways of forging a verdict
that work on stock nbgrader, not every conceivable one (README, "What the sandbox protects").
"""

import importlib
import sys

TRUSTED_MODULES = (
    "builtins", "math", "operator", "functools", "itertools", "random",
    "numpy", "numpy.linalg", "numpy.random", "numpy.testing", "numpy.fft",
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg", "torch.testing",
    "torch.autograd", "torch.autograd.functional", "torch.func",
    "sklearn.metrics",
    "aelib", "aelib.checks", "aelib.data", "aelib.gradcheck", "aelib.images", "aelib.models", "aelib.train",
)
SHELL_ATTRIBUTES = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback",
                    "_showtraceback", "showsyntaxerror", "CustomTB", "custom_exceptions", "InteractiveTB",
                    "SyntaxTB", "excepthook", "get_exception_only", "transform_cell", "ex", "ev")
SYS_HOOKS = ("excepthook", "displayhook", "breakpointhook", "unraisablehook")

_modules: dict = {}    # module name -> (module, copy of its namespace)
_classes: dict = {}    # class -> copy of its namespace
_shell_state: dict = {}
_sys_hooks: dict = {}
_MISSING = object()
_students_own: dict = {}  # the student's values of the names restore() rebinds


def _trusted_classes() -> list[type]:
    import torch

    return [torch.Tensor, torch.nn.Module, torch.nn.Parameter]


def snapshot() -> None:
    """Remember the trusted modules and classes as they are now: before any student code."""
    for name in TRUSTED_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        _modules[name] = (module, dict(vars(module)))
    for cls in _trusted_classes():
        _classes[cls] = dict(vars(cls))
    _sys_hooks.update({name: getattr(sys, name) for name in SYS_HOOKS if hasattr(sys, name)})


def snapshot_shell() -> None:
    """Remember the IPython shell's and the kernel's reporting machinery (run at kernel start)."""
    from IPython import get_ipython

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    for owner in (shell, kernel):
        if owner is None:
            continue
        for cls in type(owner).__mro__[:-1]:
            _classes.setdefault(cls, dict(vars(cls)))
    _shell_state["shell"] = shell
    _shell_state["attributes"] = {name: vars(shell)[name] for name in SHELL_ATTRIBUTES if name in vars(shell)}
    _shell_state["kernel"] = kernel
    _shell_state["kernel_attributes"] = dict(vars(kernel)) if kernel is not None else {}
    _shell_state["tracers"] = (sys.gettrace(), sys.getprofile())


def _shadows(owner, key: str) -> bool:
    """Whether an attribute added later under ``key`` hides one the tests may call."""
    bases = type(owner).__mro__ if not isinstance(owner, type) else owner.__mro__[1:]
    return key.startswith("__") or any(key in vars(base) for base in bases)


def _restore_class(cls: type, saved: dict) -> None:
    current = vars(cls)
    for key, value in saved.items():
        if key not in ("__dict__", "__weakref__", "__doc__") and current.get(key, _MISSING) is not value:
            setattr(cls, key, value)
    for key in [k for k in current if k not in saved and _shadows(cls, k)]:
        delattr(cls, key)


def _restore_shell() -> None:
    shell = _shell_state.get("shell")
    if shell is None:
        return
    own = vars(shell)
    for name in SHELL_ATTRIBUTES:
        if name in _shell_state["attributes"]:
            own[name] = _shell_state["attributes"][name]
        else:
            own.pop(name, None)
    shell.set_custom_exc((), None)
    kernel = _shell_state["kernel"]
    if kernel is not None:
        saved = _shell_state["kernel_attributes"]
        for name in [n for n in vars(kernel) if n not in saved and _shadows(kernel, n)]:
            del vars(kernel)[name]
        for name, value in saved.items():
            if callable(value) and vars(kernel).get(name, _MISSING) is not value:
                vars(kernel)[name] = value
    sys.settrace(_shell_state["tracers"][0])
    sys.setprofile(_shell_state["tracers"][1])


def restore(imports: str = "", locked: str = "") -> None:
    """Put back every snapshot, then run the instructor's ``imports`` and ``locked`` cells' code
    in the notebook's namespace (the student's values of those names are kept for :func:`put_back`)."""
    for name, (module, saved) in _modules.items():
        sys.modules[name] = module
        namespace = vars(module)
        for key, value in saved.items():
            if namespace.get(key, _MISSING) is not value:
                namespace[key] = value
    for cls, saved in _classes.items():
        _restore_class(cls, saved)
    for name, hook in _sys_hooks.items():
        setattr(sys, name, hook)
    _restore_shell()
    user_namespace = _user_namespace()
    code = compile(imports + "\n" + locked, "<grader: instructor's cells>", "exec")
    _students_own.clear()
    _students_own.update({name: user_namespace[name] for name in _bound_names(code) if name in user_namespace})
    exec(code, user_namespace)


def put_back() -> None:
    """After a test cell: give the student's own values back to the names :func:`restore` rebound,
    so that the rest of the notebook runs as the student wrote it."""
    _user_namespace().update(_students_own)
    _students_own.clear()


def _user_namespace() -> dict:
    return _shell_state["shell"].user_ns if _shell_state.get("shell") else vars(sys.modules["__main__"])


def _bound_names(code) -> set[str]:
    """The names ``code`` uses at top level: every name it binds, and a few module names besides."""
    return set(code.co_names)
