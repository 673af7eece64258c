"""The course's grading pipeline around nbgrader: release, import a flat folder, grade, report."""
