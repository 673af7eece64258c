"""Shared settings: plots render off-screen and progress bars stay quiet in tests."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
