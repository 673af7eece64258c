"""nbgrader preprocessors the course adds to autograding and feedback.

* :class:`JudgedExecute` (replaces nbgrader's Execute): the student's kernel runs the student's
  cells, the judge (:mod:`autograder.judge`, another process) decides every test cell.
* :class:`HideHiddenTests` (feedback): test cells show only their visible part.
"""

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from jupyter_core.utils import ensure_async
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from autograder.course import compute_env
from autograder.kernel import set_limit

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, not an answer, code."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def last_graded_cell(nb) -> int:
    """Index of the last answer or test cell of ``nb`` (past the end when it has none)."""
    graded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
              (c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution"))]
    return max(graded, default=len(nb.cells))


OUTPUT_BYTES = 1024 ** 2  # per cell: what a graded notebook (and so a feedback page) keeps of a cell's output


class JudgedExecute(Execute):
    """nbgrader's Execute, with every test cell decided by the judge (:mod:`autograder.judge`).

    The student's kernel runs the notebook's other cells (up to the last graded one), in a fresh
    folder of its own: ``scratch`` (its working folder; in the sandbox a folder in memory),
    ``inbox`` (the judge's requests and answer pipes, read-only for the kernel) and ``conn`` (its
    connection file and sockets, made read-only once the kernel is up). A test cell is never sent
    to the kernel: the judge runs it, and every call it makes on the exercise's API is run here in
    the kernel as ``autograder.answer.call(...)``, whose outputs are thrown away. The test cell's
    outputs are the judge's verdict: none when it passed, one error when it failed, which nbgrader
    scores.
    A cell's output is cut at ``OUTPUT_BYTES`` as it streams in. When the kernel dies, the tests
    after it fail and the points before it stand.
    """

    def preprocess(self, nb, resources, km=None):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        source = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]),
                      f"{info['notebook']}.ipynb").resolve()
        self._room = Path(tempfile.mkdtemp(prefix="aelib-kernel-"))
        for name in ("conn", "inbox", "scratch"):
            (self._room / name).mkdir()
        (self._room / "inbox").chmod(0o755)
        self._room.chmod(0o755)
        self._last_graded, self._dead, self._bytes = last_graded_cell(nb), None, {}
        self._judge = JudgeProcess(source, self._room / "inbox")
        self._judge.start()  # its fork server imports while the kernel starts
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._judge.stop()
            shutil.rmtree(self._room, ignore_errors=True)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.connection_file = str(self._room / "conn" / "kernel.json")
        if km.transport == "ipc":
            km.ip = str(self._room / "conn" / "ipc")
        return km

    async def async_start_new_kernel(self, **kwargs):
        kwargs["cwd"] = str(self._room / "scratch")
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    def preprocess_cell(self, cell, resources, index):
        (self._room / "conn").chmod(0o555)  # the kernel is up: its sockets exist, it may create nothing more
        if index > self._last_graded or cell.cell_type != "code":
            return cell, resources
        if is_test_cell(cell):
            cell.outputs = self._judged(cell.metadata["nbgrader"]["grade_id"])
            return cell, resources
        if self._dead:
            cell.outputs = [_error("DeadKernelError", f"not run: {self._dead}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = "the kernel died in an earlier cell"
            cell.outputs.append(_error("DeadKernelError", "the kernel died while running this cell"))
            return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._bytes.get(cell_index, 0)
        self._bytes[cell_index] = used + size
        if used + size <= OUTPUT_BYTES:
            return super().output(outs, msg, display_id, cell_index)
        if used <= OUTPUT_BYTES:
            outs.append(nbformat.v4.new_output("stream", name="stdout", text=f"[output past {OUTPUT_BYTES:,} bytes cut]\n"))
        return None

    def _judged(self, grade_id: str) -> list:
        """The judge's verdict on test ``grade_id`` as the cell's outputs."""
        verdict = self._judge.run(grade_id, self._answer, timeout=4 * self.timeout)
        if verdict.get("passed"):
            return []
        return [_error(verdict.get("ename", "Error"), verdict.get("evalue", ""), grade_id)]

    def _answer(self, kind: str, name: str, call_id: str) -> tuple[str, str] | None:
        """Run one judge's call in the kernel; None when it ran, else (ename, evalue)."""
        if self._dead:
            return "DeadKernelError", self._dead
        request, reply = self._room / "inbox" / f"{call_id}.npz", self._room / "inbox" / f"{call_id}.reply"
        if kind == "call":
            code = f"__import__('autograder.answer', fromlist=['call']).call({name!r}, {str(request)!r}, {str(reply)!r}, {call_id!r})"
        else:
            code = f"__import__('autograder.answer', fromlist=['vjp']).vjp({name!r}, {str(request)!r}, {str(reply)!r})"
        try:
            run_sync(self._run_quietly)(code, self.timeout)
        except TimeoutError:
            return "CellTimeoutError", f"the student's code ran past the {self.timeout} s time limit"
        except DeadKernelError:
            self._dead = "the kernel died while the student's code ran for a test"
            return "DeadKernelError", self._dead
        return None

    async def _run_quietly(self, code: str, timeout: float) -> None:
        """Execute ``code`` in the kernel and wait for it to finish; its outputs are never read."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await ensure_async(self.km.interrupt_kernel())
                await self._drain(msg_id, 10)
                raise TimeoutError
            if await self._drain(msg_id, min(remaining, 1.0)):
                return
            if not await ensure_async(self.km.is_alive()):
                raise DeadKernelError("the kernel died")

    async def _drain(self, msg_id: str, timeout: float) -> bool:
        """Whether the kernel's reply to ``msg_id`` came within ``timeout`` seconds."""
        try:
            msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=timeout))
        except queue.Empty:
            return False
        return msg.get("parent_header", {}).get("msg_id") == msg_id


def _error(ename: str, evalue: str, grade_id: str = ""):
    """An error output as nbgrader reads it (and feedback shows it)."""
    summary = f"Test {grade_id} failed: {ename}: {evalue}" if grade_id else f"{ename}: {evalue}"
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=summary.splitlines())


JUDGE_MEMORY_MB = 8192  # the judge reads what students return: an answer too large is its MemoryError, not the grader's


def _judge_limits() -> None:
    set_limit("AS", JUDGE_MEMORY_MB * 1024 * 1024)


class JudgeServer:
    """The fork server of one lesson's judges (:func:`autograder.judge.serve`), one per grading process.

    It imports torch, NumPy and the lesson's modules once; each notebook's judge is a fork of it,
    ready in milliseconds instead of seconds. It ends when this process closes its socket (a
    server for another lesson replaces it, or this process ends)."""

    _current: "JudgeServer | None" = None

    @classmethod
    def for_lesson(cls, source: Path) -> "JudgeServer":
        """The running server for ``source`` (the lesson's source notebook), started if need be."""
        server = cls._current
        if server is None or server.source != source or server.process.poll() is not None:
            if server is not None:
                server.close()
            server = cls._current = cls(source)
        return server

    def __init__(self, source: Path):
        # the judge's own work is small: one thread, never spinning, on the CPU whatever the kernel uses
        env = {**os.environ, **compute_env(threads=1), "AELIB_DEVICE": "cpu"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
        self.source, self.lock = source, threading.Lock()
        self.socket, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.judge", "--serve", str(source), str(theirs.fileno())],
            env=env, stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()], preexec_fn=_judge_limits)
        theirs.close()

    def fork(self, inbox: Path, timeout: float) -> tuple[int, object, object]:
        """A new judge for the notebook whose requests go to ``inbox``: (pid, its stdin, its stdout)."""
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        try:
            with self.lock:
                self.socket.settimeout(timeout)
                socket.send_fds(self.socket, [json.dumps({"inbox": str(inbox)}).encode()], [stdin_r, stdout_w])
                reply = self.socket.recv(4096)
        except OSError:
            reply = b""
        finally:
            os.close(stdin_r)
            os.close(stdout_w)
        if not reply:
            os.close(stdin_w)
            os.close(stdout_r)
            raise ChildProcessError("the judge's fork server did not answer")
        return json.loads(reply)["pid"], os.fdopen(stdin_w, "w"), os.fdopen(stdout_r, "r")

    def close(self) -> None:
        self.socket.close()
        self.process.wait()


class JudgeProcess:
    """The judge for one notebook, and the line protocol with it (:class:`autograder.judge.Channel`).

    Forked by the lesson's :class:`JudgeServer` at the first test; stopped (killed) when the
    notebook is done. A judge that ran past a test's time limit is killed, and the next test
    starts a new one."""

    def __init__(self, source: Path, inbox: Path):
        self.source, self.inbox = source, inbox
        self.pid, self.ready = None, False

    def start(self) -> None:
        """Have the lesson's fork server running (it imports while the kernel starts)."""
        JudgeServer.for_lesson(self.source)

    def _fork(self, timeout: float) -> None:
        self.ready = False
        self.pid, self.stdin, stdout = JudgeServer.for_lesson(self.source).fork(self.inbox, timeout)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(stdout, self.lines), daemon=True).start()

    @staticmethod
    def _read(stream, lines) -> None:
        with stream:
            for line in stream:
                lines.put(line)
        lines.put(None)

    def _receive(self, timeout: float) -> dict | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        return json.loads(line) if line else None

    def _send(self, message: dict) -> None:
        self.stdin.write(json.dumps(message) + "\n")
        self.stdin.flush()

    def run(self, grade_id: str, answer, timeout: float) -> dict:
        """The verdict on ``grade_id``; ``answer(kind, name, call_id)`` runs each call in the kernel."""
        try:
            if self.pid is None:
                self._fork(timeout)
            if not self.ready:
                self.ready = bool((self._receive(timeout) or {}).get("ready"))
            if not self.ready:
                raise ChildProcessError("the judge did not start")
            self._send({"run": grade_id})
        except (ChildProcessError, BrokenPipeError) as err:
            self.stop()
            return {"passed": False, "ename": "JudgeError", "evalue": str(err)}
        while True:
            message = self._receive(timeout)
            if message is None:
                self.stop()
                return {"passed": False, "ename": "CellTimeoutError", "evalue": f"the test ran past {timeout:g} s"}
            if "verdict" in message:
                return message
            failed = answer(message["kind"], message["name"], message["id"])
            self._send({"answered": message["id"]} if failed is None else
                       {"failed": message["id"], "ename": failed[0], "evalue": failed[1]})

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, 9)
            except ProcessLookupError:
                pass
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass
            self.pid = None


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test code from test cells (their failures are the judge's one-line messages)."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            visible, hidden, _ = cell.source.partition(HIDDEN_BEGIN)
            if hidden:
                cell.source = visible.rstrip() + "\n# Hidden tests ran here; their code is not shown."
        return cell, resources
