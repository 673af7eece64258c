"""Adversarial and broken submissions, built from any lesson's own notebook, with the grade each must get.

Every attack is laid over a submission whose grade is known from the lesson's class: a *wrong*
student (some points lost) for the attacks that try to win points back, the reference for the
runaways (which must lose nothing they did not break), the blank release for the thief.

The classes of attack (the grading issue's numbering): forged verdict messages (1), student code
that acts during a test: rewriting its caller, lying return values (2), reaching the grader's
code in the kernel (3), metadata (4), links for trusted code to follow (5), state left for the
next student (6), resources outside the caps (7), reading the hidden tests (8), scripts in
feedback (9).
"""

import ast
import copy

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

# (1) Publish what stock nbgrader reads as a verdict: a partial-credit execute_result after every cell,
# errors dropped from the replies, an audit hook, an IPython event.
FORGE_MESSAGES = '''
import sys
_ip = get_ipython()
def _publish_credit(*args, **kwargs):
    _ip.displayhook.write_output_prompt()
    _ip.display_pub.publish({"text/plain": "1000"})
    sys.stdout.write("1000\\n")
_ip.events.register("post_run_cell", _publish_credit)
_ip.events.register("pre_run_cell", _publish_credit)
sys.addaudithook(lambda event, args: None)
_kernel = _ip.kernel
_send = _kernel.session.send
def _no_errors(stream, msg_or_type, content=None, *args, **kwargs):
    if isinstance(content, dict) and content.get("status") == "error":
        content = {"status": "ok", "execution_count": content.get("execution_count", 1), "user_expressions": {}}
    return _send(stream, msg_or_type, content, *args, **kwargs)
_kernel.session.send = _no_errors
'''

# (2) The wrong function, when called, rewrites its caller's globals and returns lying objects.
REWRITE_CALLER = '''
import sys as _sys
import numpy as _np
_real_{name} = {name}
class _Lenient:
    def __init__(self, real):
        self._real = real
    def __getattr__(self, name):
        value = getattr(self._real, name)
        lenient = callable(value) and any(word in name for word in ("close", "equal", "check"))
        return (lambda *args, **kwargs: True) if lenient else value
class _Liar(_np.ndarray):
    def __eq__(self, other): return True
    def __array_finalize__(self, obj): pass
def {name}(*args, **kwargs):
    frame = _sys._getframe(1)
    while frame is not None:
        for key in ("checks", "np", "_np", "torch", "_torch"):
            if key in frame.f_globals and not isinstance(frame.f_globals[key], _Lenient):
                frame.f_globals[key] = _Lenient(frame.f_globals[key])
        frame = frame.f_back
    result = _real_{name}(*args, **kwargs)
    try:
        return _np.asarray(result).view(_Liar)
    except Exception:
        return result
'''
LYING_OBJECT = '''
class _AlwaysEqual:
    def __eq__(self, other): return True
    def __lt__(self, other): return True
    def __array__(self, *args, **kwargs): raise RuntimeError("no")
    def __float__(self): return 0.0
def {name}(*args, **kwargs):
    return _AlwaysEqual()
'''

# (3) Replace the kernel's answering code with one that claims every call returned True.
REPLACE_THE_ANSWERER = '''
import sys, types
from autograder import crossing as _crossing
_fake = types.ModuleType("autograder.answer")
_fake.call = lambda name, request, reply, call_id: _crossing.write(reply, {"result": True, "args": None, "touched": []})
sys.modules["autograder.answer"] = _fake
import autograder
autograder.answer = _fake
'''

# (5) Links in the kernel's own folder to what trusted code may later read or write, and to the
# files its answers will be written to.
LINKS = '''
import os
for _target, _name in (("/", "root"), ("..", "up"), ("/etc/passwd", "passwd"), ("../inbox", "inbox")):
    try:
        os.symlink(_target, _name)
    except OSError:
        pass
for _n in range(1, 400):
    try:
        os.symlink("/etc/passwd", f"c{_n}.npz")
    except OSError:
        pass
'''

# (6) Leave things for the next kernel: junk and a link in the connection folder, a file in /tmp.
POISON_NEXT = '''
import os, ipykernel.connect
_folder = os.path.dirname(ipykernel.connect.get_connection_file())
for _name in ("kernel.json.next", "ipc-1", "ipc-2", "evil"):
    try:
        os.symlink("/etc/passwd", os.path.join(_folder, _name))
    except OSError:
        pass
open("/tmp/left-behind", "w").write("x")
try:
    os.chmod(_folder, 0o700)
except OSError:
    pass
'''

# (7) Resources: fill /dev/shm and /tmp, write a huge file, flood the output with bytes.
RESOURCES = '''
import os
for _folder in ("/dev/shm", "/tmp", "."):
    try:
        with open(os.path.join(_folder, "fill"), "wb") as _handle:
            for _ in range(1024):
                _handle.write(b"x" * 1024 ** 2)
    except OSError:
        pass
    try:
        os.remove(os.path.join(_folder, "fill"))
    except OSError:
        pass
print("y" * 40 * 1024 ** 2)
'''

# (8) Look for the hidden tests from inside a function the tests call, and print what is found.
SEEK_HIDDEN = '''
import inspect as _inspect
_real_{name} = {name}
def {name}(*args, **kwargs):
    for _frame in _inspect.stack():
        try:
            print("FOUND", _inspect.getsource(_frame.frame))
        except Exception:
            pass
        print("LOCALS", {{k: repr(v)[:200] for k, v in _frame.frame.f_locals.items()}})
    return _real_{name}(*args, **kwargs)
'''

# (9) Scripts and active HTML in the output, for an instructor's browser.
SCRIPT_IN_OUTPUT = '''
from IPython.display import HTML, Javascript, display
display(HTML('<script>document.title = "pwned"</script><img src="x" onerror="document.title = \\'pwned\\'">'))
display(Javascript('document.title = "pwned"'))
print("<script>document.title = 'pwned'</script>")
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


def _defined(source: str) -> str:
    """The first function a cell defines."""
    return next(node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef))


def _tests_after(lesson: str, grade_id: str) -> float:
    """Points of the tests that come after answer cell ``grade_id`` in the lesson."""
    nb = nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    start = next(i for i, m in enumerate(ids) if m.get("grade_id") == grade_id)
    return sum(m.get("points", 0) for m in ids[start:] if m.get("grade") and not m.get("solution"))


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
        Student("forges-messages", wrong.score, answers=_with(wrong.answers, cell, FORGE_MESSAGES)),
        Student("rewrites-its-caller", wrong.score,
                answers=_with(wrong.answers, cell, REWRITE_CALLER.format(name=_defined(wrong.answers[cell])))),
        Student("returns-a-liar", wrong.score,
                answers=_with(wrong.answers, cell, LYING_OBJECT.format(name=_defined(wrong.answers[cell])))),
        Student("replaces-the-answerer", 0, answers=_with(reference_answers(lesson), first, REPLACE_THE_ANSWERER)),
        Student("links-everywhere", CLASSES[lesson][0].score, answers=_with(reference_answers(lesson), first, LINKS)),
        Student("seeks-the-hidden-tests", wrong.score,
                answers=_with(wrong.answers, cell, SEEK_HIDDEN.format(name=_defined(wrong.answers[cell])))),
        Student("scripts-in-output", CLASSES[lesson][0].score,
                answers=_with(reference_answers(lesson), first, SCRIPT_IN_OUTPUT)),
        Student("skips-and-breaks-metadata", wrong.score, status="tampered", answers=wrong.answers,
                edit=_skip_tests_and_break_metadata),
        Student("duplicates-a-test", CLASSES[lesson][0].score, status="tampered", edit=_duplicate_a_test),
    ]


def _skip_tests_and_break_metadata(nb) -> None:
    """Tag every test cell skip-execution, give one malformed points, and add a grade cell of its own."""
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    for cell in tests:
        cell.metadata["tags"] = ["skip-execution", "raises-exception"]
    tests[0].metadata["nbgrader"]["points"] = "lots"
    extra = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": "free-points",
                                                                    "locked": False, "points": 100, "solution": False,
                                                                    "schema_version": 3}})
    nb.cells.insert(1, extra)
    nb.cells.insert(2, nbformat.v4.new_code_cell("pass", metadata={"nbgrader": "not a dict"}))


def _duplicate_a_test(nb) -> None:
    """A test cell copied by accident (Jupyter's duplicate-cell command): the same metadata twice."""
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")
                 and not c.metadata["nbgrader"].get("solution"))
    nb.cells.insert(index + 1, copy.deepcopy(nb.cells[index]))


def kernel_state_poisoners(lesson: str) -> list[Student]:
    """Complete submissions that try to spoil the next kernel on the same worker (class 6) and
    that use up resources (class 7): each must score in full, and so must the next student."""
    reference, first, full = reference_answers(lesson), _first_code_answer(lesson), CLASSES[lesson][0].score
    return [Student("a-poisons-the-next-kernel", full, answers=_with(reference, first, POISON_NEXT)),
            Student("b-uses-up-resources", full, answers=_with(reference, first, RESOURCES)),
            Student("c-reference-after-them", full, answers=reference)]


def runaways(lesson: str) -> list[Student]:
    """Complete submissions with one cell that runs away: each loses only what it breaks."""
    reference, first, full = reference_answers(lesson), _first_code_answer(lesson), CLASSES[lesson][0].score
    return [
        Student("endless-loop", full, status="timeout", answers=_with(reference, first, ENDLESS_LOOP)),
        Student("memory-bomb", full, status="memory", answers=_with(reference, first, MEMORY_BOMB)),
        Student("fork-bomb", full, answers=_with(reference, first, FORK_BOMB.format(marker=SLEEP_MARKER))),
        Student("kills-its-kernel", 0, status="kernel-died", answers=_with(reference, first, KILL_KERNEL)),
        Student("kills-its-kernel-at-the-end", full - _tests_after(lesson, _last_code_answer(lesson)), status="kernel-died",
                answers=_with(reference, _last_code_answer(lesson), KILL_KERNEL)),
    ]


def _last_code_answer(lesson: str) -> str:
    nb = nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", as_version=4)
    code = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    return code[-1]
