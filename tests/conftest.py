from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

# One OpenMP / BLAS thread per process: the suite runs servers beside the tests on a few
# cores, and OpenMP's spinning workers (scikit-learn's gradient boosting, BLAS) oversubscribed
# them ~20x (a 0.5 s domain-classifier test took 47 s with the servers busy). Set before numpy
# and scikit-learn load; child servers inherit it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI runs the same hypothesis examples every time (a red build is reproducible) and never
# fails on a slow example on a loaded machine; locally hypothesis explores as usual.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

sys.path.insert(0, str(Path(__file__).parent))

from serverproc import ServerProcess  # noqa: E402


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data").start()
    try:
        yield srv
    finally:
        srv.stop()
