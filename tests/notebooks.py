"""Execute notebooks in a fresh kernel for the tests, and read what went wrong in them."""

import ast
import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from aelib.device import ENV_VAR

REPO = Path(__file__).resolve().parent.parent
LESSON_IDS = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())

# Run in the kernel after a solution notebook: move every control of every demo and check that the
# picture is redrawn each time. Prints one line per demo.
DEMO_PROBE = '''
import aelib.widgets as _w
_demos = [v for v in list(globals().values()) if isinstance(v, _w.Demo)]
assert _demos, "this lesson has no aelib.widgets.Demo"
for _demo in _demos:
    for _name, _control in _demo.controls.items():
        _before = _demo.figure
        _options = getattr(_control, "options", None)
        if _options:
            _labels = [o[1] if isinstance(o, tuple) else o for o in _options]
            _control.value = next(v for v in _labels if v != _control.value)
        else:
            _control.value = _control.max if _control.value != _control.max else _control.min
        assert _demo.figure is not _before, f"moving {_name!r} did not redraw the demo"
    print("demo redraws:", sorted(_demo.controls))
'''


def execute(path: Path, *, allow_errors: bool, probe: str | None = None, timeout: int = 300):
    """Execute the notebook at ``path`` in its own folder; return it with outputs (and the probe cell).

    The kernel computes on the CPU (``AELIB_DEVICE=cpu`` in its environment, the rest of ours kept),
    so that a lesson is tested the same way on a machine with a GPU.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel(env={**os.environ, ENV_VAR: "cpu"}):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        if probe is not None:
            probe_cell = nbformat.v4.new_code_cell(probe)
            nb.cells.append(probe_cell)
            client.execute_cell(probe_cell, len(nb.cells) - 1)
    return nb


def errors(cell) -> list[tuple[str, str]]:
    """(name, value) of every error a code cell raised."""
    return [(o.ename, o.evalue) for o in cell.get("outputs", []) if o.output_type == "error"]


def assigned_names(source: str) -> set[str]:
    """Names a cell binds at top level (assignments, imports, functions, classes, for-loops)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def unexpected_errors(nb) -> list[str]:
    """Errors in an executed student release other than its stubs' NotImplementedError.

    A NameError is expected only for a name that an earlier failing cell would have defined.
    """
    unset: set[str] = set()
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for name, value in errors(cell):
            missing = re.match(r"name '(\w+)' is not defined", value)
            if name == "NotImplementedError" or (name == "NameError" and missing and missing.group(1) in unset):
                unset |= assigned_names(cell.source)
            else:
                problems.append(f"cell {index}: {name}: {value}")
    return problems


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")
