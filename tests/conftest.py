"""Shared settings: plots render off-screen, progress bars stay quiet, and idle OpenMP threads sleep.

Set here, before torch is imported, so that the kernels the tests start inherit them too. With
spinning OpenMP threads (the default), a kernel sharing the two cores with any other busy process
was seen to run a 2-second training cell 70 times slower.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
