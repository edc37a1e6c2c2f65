"""Benchmark of the blind spots analysis (``mlwarden.analysis.blindspots``) on a DuckDB file.

The data of ``bench/slices.py`` (a binary model, ``--features`` features, one planted weak
pair); times :func:`find_blind_spots` (singles and up to ``--max-pairs`` column pairs) and
prints the top slices.

    python bench/blindspots.py --rows 1000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from mlwarden.analysis.blindspots import find_blind_spots  # noqa: E402
from mlwarden.store import DuckDBStore  # noqa: E402
from slices import START, make_data, store_events  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--max-pairs", type=int, default=45)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n_num = args.features * 2 // 3
    cols, _, spec, planted = make_data(args.rows, n_num, args.features - n_num, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-blindspots-"))
    store = DuckDBStore(tmp / "bench.duckdb")
    try:
        model = store_events(store, spec, cols)
        end = START + timedelta(days=1)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            r = find_blind_spots(
                store, model, start=START, end=end, metric="accuracy", max_pairs=args.max_pairs
            )
            times.append(time.perf_counter() - t0)
        print(
            f"find_blind_spots ({args.rows:,} rows x {args.features} features, "
            f"{r.slices_tested} slices, {r.pairs_tested} column pairs): {min(times):.2f} s "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)})"
        )
        print(f"planted (quintile bins in bench/slices.py; quartiles here): {planted}")
        for rank, s in enumerate(r.spots[:5], 1):
            print(
                f"  {rank}. {s.describe()}: {s.value:.3f} vs {s.rest:.3f}, gap {s.gap:+.3f} "
                f"[{s.low:+.3f}, {s.high:+.3f}], adj p {s.adjusted_p:.2g}, impact {s.impact:.0f}"
                f"{' (explained by ' + s.explained_by + ')' if s.explained_by else ''}"
            )
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
