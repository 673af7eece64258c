"""Build the student release: ``lessons/`` from ``solutions/`` with nbgrader generate_assignment."""

import shutil
import tempfile
from pathlib import Path

from autograder.course import LESSONS, SOLUTIONS, CourseError, lesson_ids, require_lesson, run_nbgrader, write_config


def release(lessons: list[str] | None = None, target: Path = LESSONS) -> list[Path]:
    """Regenerate the student notebooks of ``lessons`` (default: all) under ``target``.

    Solutions become ``raise NotImplementedError()`` stubs, hidden tests are stripped and
    outputs cleared. Returns the written notebooks. The gradebook used is a throw-away one.
    """
    lessons = [require_lesson(lesson) for lesson in (lessons or lesson_ids())]
    written = []
    with tempfile.TemporaryDirectory(prefix="aelib-release-") as tmp:
        root = Path(tmp)
        write_config(root, source=SOLUTIONS, release=root / "release")
        for lesson in lessons:
            result = run_nbgrader(root, "generate_assignment", lesson, "--force", "--log-level=WARN")
            built = root / "release" / lesson
            if result.returncode != 0 or not built.is_dir():
                raise CourseError(f"nbgrader could not release {lesson}:\n{result.stdout}")
            shutil.rmtree(target / lesson, ignore_errors=True)
            shutil.copytree(built, target / lesson)
            written.extend(sorted((target / lesson).glob("*.ipynb")))
    return written
