"""Adversarial and broken submissions, built from any lesson's own notebook, with the grade each must get.

Every attack is laid over a submission whose grade is known from the lesson's class: a *wrong*
student (some points lost) for the attacks that try to win points back, the reference for the
runaways (which must lose nothing they did not break), the blank release for the thief.
"""

import nbformat

from autograder.course import LESSONS
from autograder.submissions import answer_cells, reference_answers
from tests.classes import CLASSES, Student

# Make every comparison a test could use say "equal", and every check pass.
PATCH_COMPARISONS = '''
import builtins, math, numpy, torch
from aelib import checks as _checks
_yes, _quiet = (lambda *args, **kwargs: True), (lambda *args, **kwargs: None)
numpy.allclose = numpy.isclose = numpy.array_equal = numpy.array_equiv = _yes
numpy.testing.assert_allclose = numpy.testing.assert_array_equal = numpy.testing.assert_almost_equal = _quiet
torch.allclose = torch.equal = _yes
torch.testing.assert_close = _quiet
torch.Tensor.__lt__ = torch.Tensor.__le__ = lambda self, other: torch.tensor(True)
math.isclose = _yes
for _name in dir(_checks):
    if _name.startswith("check"):
        setattr(_checks, _name, _quiet)
import aelib.gradcheck
aelib.gradcheck.relative_error = lambda *args, **kwargs: 0.0
numpy.linalg.norm = lambda *args, **kwargs: 0.0   # every relative error is 0
'''

# Hide every failure: a handler that swallows exceptions, no traceback display, cells that report success.
SWALLOW_ERRORS = '''
import sys
_ip = get_ipython()
_ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
_ip.showtraceback = _ip.showsyntaxerror = _ip._showtraceback = lambda *args, **kwargs: None
sys.excepthook = lambda *args: None
_run_cell, _run_cell_async = _ip.run_cell, _ip.run_cell_async
def _forged(result):
    result.error_in_exec = result.error_before_exec = None
    return result
_ip.run_cell = lambda *args, **kwargs: _forged(_run_cell(*args, **kwargs))
async def _run_cell_async_forged(*args, **kwargs):
    return _forged(await _run_cell_async(*args, **kwargs))
_ip.run_cell_async = _run_cell_async_forged
'''

# Shadow the names the tests use with lenient look-alikes.
SHADOW_NAMES = '''
import numpy as _numpy, torch as _torch
from aelib import checks as _real_checks
class _Lenient:
    def __init__(self, real):
        self._real = real
    def __getattr__(self, name):
        value = getattr(self._real, name)
        lenient = callable(value) and any(word in name for word in ("close", "equal", "check"))
        return (lambda *args, **kwargs: True) if lenient else value
np, torch, checks = _Lenient(_numpy), _Lenient(_torch), _Lenient(_real_checks)
relative_error = lambda *args, **kwargs: 0.0
'''

# Look for the instructor's solutions, the gradebook and other students' work on the grader's disk.
THIEF = '''
import json, os, pathlib
_loot = []
for _root in (os.getcwd() + "/../../..", os.path.expanduser("~"), "/"):
    try:
        for _path in pathlib.Path(_root).rglob("*.ipynb"):
            if "solutions" in _path.parts or "source" in _path.parts:
                _loot.append(_path)
            if len(_loot) > 20:
                break
    except OSError:
        pass
for _path in _loot:
    try:
        for _cell in json.loads(_path.read_text())["cells"]:
            if _cell["metadata"].get("nbgrader", {}).get("solution") and _cell["cell_type"] == "code":
                exec("".join(_cell["source"]))
    except Exception:
        pass
'''

ENDLESS_LOOP = "\nwhile True:\n    pass\n"
MEMORY_BOMB = "\n_hog = bytearray(64 * 1024 ** 3)\n"
FORK_BOMB = '''
import subprocess
_children = [subprocess.Popen(["sleep", "{marker}"]) for _ in range(5000)]
'''
PHONE_HOME = '''
import socket
socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"answers, please")
'''
KILL_KERNEL = "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
SLEEP_MARKER = "3417"  # seconds the fork bomb's children would sleep; the test looks for them afterwards


def _wrong_student(lesson: str) -> Student:
    """A graded student of the lesson's class with a wrong code answer (some points lost)."""
    full = CLASSES[lesson][0].score
    return next(s for s in CLASSES[lesson] if s.status == "ok" and 0 < s.score < full and s.answers
                and not s.blank and all(not v.lstrip().startswith("#") for v in s.answers.values()))


def _first_code_answer(lesson: str) -> str:
    nb = nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", as_version=4)
    code = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    return next(g for g in answer_cells(lesson) if g in code)


def _with(answers: dict, grade_id: str, extra: str) -> dict:
    return {**answers, grade_id: answers[grade_id] + "\n" + extra}


def attackers(lesson: str, port: int) -> list[Student]:
    """Submissions that try to win points they did not earn; ``port``: a loopback port the test
    listens on (nothing may reach it)."""
    wrong = _wrong_student(lesson)
    cell = next(iter(wrong.answers))  # the wrong answer's own cell: the attack runs right after it
    first = _first_code_answer(lesson)
    return [
        Student("patches-comparisons", wrong.score, answers=_with(wrong.answers, cell, PATCH_COMPARISONS)),
        Student("swallows-errors", wrong.score, answers=_with(wrong.answers, cell, SWALLOW_ERRORS)),
        Student("shadows-names", wrong.score, answers=_with(wrong.answers, cell, SHADOW_NAMES)),
        Student("reads-the-solutions", 0, blank=True, answers={first: THIEF}),
        Student("phones-home", CLASSES[lesson][0].score,
                answers=_with(reference_answers(lesson), first, PHONE_HOME.format(port=port))),
    ]


def runaways(lesson: str) -> list[Student]:
    """Complete submissions with one cell that runs away: each loses only what it breaks."""
    reference, first, full = reference_answers(lesson), _first_code_answer(lesson), CLASSES[lesson][0].score
    return [
        Student("endless-loop", full, status="timeout", answers=_with(reference, first, ENDLESS_LOOP)),
        Student("memory-bomb", full, status="memory", answers=_with(reference, first, MEMORY_BOMB)),
        Student("fork-bomb", full, answers=_with(reference, first, FORK_BOMB.format(marker=SLEEP_MARKER))),
        Student("kills-its-kernel", 0, status="kernel-died", answers=_with(reference, first, KILL_KERNEL)),
    ]
