"""One long-lived ``nbgrader autograde`` process per grading worker.

Starting nbgrader costs seconds of imports and set-up, paid once per worker here rather than once
per student. :class:`AutogradeWorker` starts ``python -m autograder.worker LESSON`` in the course
folder and sends it one student id per line; for each, the process runs nbgrader's own
``Autograde`` converter (the same one ``nbgrader autograde`` runs) and answers one JSON line
``{"success": bool, "log": str}``. A submission that runs past its time limit is stopped by killing
the process; the next student gets a fresh one.
"""

import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from autograder.course import REPO


@dataclass
class Autograded:
    """What one ``autograde`` call reported: whether it succeeded, and nbgrader's log."""

    success: bool
    log: str


class AutogradeWorker:
    """A grading process for one lesson in one course folder, started on first use.

    ``settings`` (``{"Section": {"name": value}}``) are added to the course's ``nbgrader_config.py``;
    ``env`` adds environment variables (the kernel's user id, the kernelspec folder). What the
    process and its kernels print goes to the file ``log``.
    """

    def __init__(self, root: Path, lesson: str, settings: dict, env: dict[str, str], log: Path):
        self.root, self.lesson, self.settings, self.env, self.log = root, lesson, settings, env, log
        self.process: subprocess.Popen | None = None
        self.replies: queue.Queue[str | None] = queue.Queue()

    def _start(self) -> None:
        env = {**os.environ, **self.env}
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # nbgrader runs alembic by name
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.worker", self.lesson, json.dumps(self.settings)], cwd=self.root,
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        self.replies = queue.Queue()
        threading.Thread(target=self._read_replies, args=(self.process.stdout, self.replies), daemon=True).start()

    @staticmethod
    def _read_replies(stream, replies: queue.Queue) -> None:
        for line in stream:
            replies.put(line)
        replies.put(None)  # the process ended

    def autograde(self, student: str, timeout: float) -> Autograded | None:
        """Autograde ``student``'s submitted notebook; None when it ran past ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            self.process.stdin.write(student + "\n")
            self.process.stdin.flush()
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            self.stop(kill=True)
            return None
        except BrokenPipeError:
            reply = None
        if reply is None:
            self.stop(kill=True)
            last = self.log.read_text(errors="replace").strip().splitlines()[-1:] if self.log.exists() else []
            return Autograded(False, f"the grading process ended unexpectedly: {' '.join(last)} (see {self.log})")
        return Autograded(**json.loads(reply))

    def stop(self, kill: bool = False) -> None:
        """End the process: at once with ``kill``, else by closing its input (it finishes its student)."""
        if self.process is None:
            return
        if not kill:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill = True
        if kill:
            try:
                os.killpg(self.process.pid, 9)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.process = None


def serve(lesson: str, settings: dict) -> None:
    """Grade the students named on stdin, one per line, answering one JSON line each on stdout.

    Anything else written to stdout (by nbgrader, or kernels that inherit it) goes to stderr, so the
    answers stay readable.
    """
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config, PyFileConfigLoader

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    config = Config(PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config())
    config.merge(Config(settings))
    for line in sys.stdin:
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id, coursedir.student_id = lesson, line.strip()
        converter = Autograde(coursedir=coursedir, config=config)
        converter.force, converter.create_student = True, True
        result = capture_log(converter)
        log = result.get("log", "") + result.get("error", "")
        if not result["success"]:  # the whole story of a failed submission, in this worker's log
            sys.stderr.write(f"autograde of {coursedir.student_id} failed:\n{log}\n")
            sys.stderr.flush()
        answers.write(json.dumps({"success": result["success"], "log": log}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]))
