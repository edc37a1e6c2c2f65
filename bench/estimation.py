"""Label-free performance estimation: mlwarden's CBPE and DLE next to NannyML's.

Runs both on NannyML's bundled offline datasets with the same chunks and prints, per
dataset and metric, the mean absolute error of each estimate against the realised
performance (computed with scikit-learn from the analysis targets), ours vs
NannyML's, their ratio, and how often each band covers the realised value.

NannyML needs ``pandas<3``, which conflicts with our pins, so it lives in its own venv
(``bench/.anchors-venv/``, created on first run, git-ignored) and runs in a subprocess
with ``NML_DISABLE_USAGE_LOGGING=1``. The datasets only load from NannyML, so that
subprocess first exports them to Parquet in a temporary folder; it then writes its
per-chunk estimates to JSON. Our side runs in this interpreter.

A second table sweeps the reference size (100, 300, 1,000 and 10,000 rows) on synthetic
data where the truth is known: a perfectly calibrated binary classifier (CBPE: accuracy,
ROC AUC) and a regressor with heteroscedastic errors (DLE: MAE, RMSE). Per size it fits
``--sweep-refs`` references and estimates ``--sweep-windows`` windows of ``--window``
rows each, and prints the mean absolute error, the band's coverage of the realised value
and the share of references the monitor calls ``insufficient_reference`` (its minimum
sizes), ours beside NannyML's error and coverage on the same files.

Usage: ``PYTHONPATH=src python bench/estimation.py [--chunk-size 5000] [--no-nannyml]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, roc_auc_score

from mlwarden.monitors.estimated_performance import (
    CBPE_MIN_CLASS_ROWS,
    CBPE_MIN_REFERENCE_ROWS,
    DLE_MIN_REFERENCE_ROWS,
)
from mlwarden.stats.estimation import CBPE, DLE

HERE = Path(__file__).resolve().parent
ANCHOR_VENV = HERE / ".anchors-venv"
ANCHOR_PACKAGES = ["nannyml", "statsmodels", "pandas<3"]

SWEEP_SIZES = (100, 300, 1000, 10000)
MULTI_CLASSES = ["highstreet_card", "prepaid_card", "upmarket_card"]
PRICE_FEATURES = ["car_age", "km_driven", "price_new", "accident_count", "door_count"]
PRICE_CATEGORICAL = ["fuel", "transmission"]

ANCHOR_SCRIPT = r"""
import json, sys, time, warnings
from pathlib import Path
import nannyml as nml
import pandas as pd

warnings.filterwarnings("ignore")
out, chunk_size = Path(sys.argv[1]), int(sys.argv[2])

def dump(name, loader):
    ref, ana, tgt = loader()
    ana = ana.merge(tgt, on="id")
    ref.to_parquet(out / f"{name}_reference.parquet")
    ana.to_parquet(out / f"{name}_analysis.parquet")
    return ref, ana

def rows(result, metrics):
    df = result.filter(period="analysis").to_df()
    chunks = []
    for i in range(len(df)):
        row = {"start": int(df[("chunk", "start_index")].iloc[i]),
               "end": int(df[("chunk", "end_index")].iloc[i])}
        for m in metrics:
            row[m] = [float(df[(m, c)].iloc[i]) for c in
                      ("value", "lower_confidence_boundary", "upper_confidence_boundary")]
        chunks.append(row)
    return chunks

res = {}
ref, ana = dump("binary", nml.load_synthetic_car_loan_dataset)
t = time.perf_counter()
est = nml.CBPE(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="repaid",
               problem_type="classification_binary", chunk_size=chunk_size,
               metrics=["roc_auc", "accuracy", "f1"]).fit(ref)
r = est.estimate(ana.drop(columns=["repaid"]))
res["binary"] = {"seconds": time.perf_counter() - t, "chunks": rows(r, ["roc_auc", "accuracy", "f1"])}

ref, ana = dump("multiclass", nml.load_synthetic_multiclass_classification_dataset)
classes = ["highstreet_card", "prepaid_card", "upmarket_card"]
t = time.perf_counter()
est = nml.CBPE(y_pred_proba={c: f"y_pred_proba_{c}" for c in classes}, y_pred="y_pred",
               y_true="y_true", problem_type="classification_multiclass",
               chunk_size=chunk_size, metrics=["roc_auc", "accuracy", "f1"]).fit(ref)
r = est.estimate(ana.drop(columns=["y_true"]))
res["multiclass"] = {"seconds": time.perf_counter() - t,
                     "chunks": rows(r, ["roc_auc", "accuracy", "f1"])}

ref, ana = dump("regression", nml.load_synthetic_car_price_dataset)
feats = ["car_age", "km_driven", "price_new", "accident_count", "door_count", "fuel",
         "transmission"]
t = time.perf_counter()
est = nml.DLE(feature_column_names=feats, y_pred="y_pred", y_true="y_true",
              chunk_size=chunk_size, metrics=["mae", "rmse"]).fit(ref)
r = est.estimate(ana.drop(columns=["y_true"]))
res["regression"] = {"seconds": time.perf_counter() - t, "chunks": rows(r, ["mae", "rmse"])}

sweep = out / "sweep.json"
if sweep.exists():  # the reference-size sweep: same files as ours, one chunk per window
    res["sweep"] = {}
    for run in json.loads(sweep.read_text()):
        ref = pd.read_parquet(out / f"{run}_reference.parquet")
        ana = pd.read_parquet(out / f"{run}_analysis.parquet")
        window = int(json.loads(sweep.read_text())[run])
        if run.startswith("cbpe"):
            est = nml.CBPE(y_pred_proba="score", y_pred="y_pred", y_true="y_true",
                           problem_type="classification_binary", chunk_size=window,
                           metrics=["accuracy", "roc_auc"]).fit(ref)
            metrics = ["accuracy", "roc_auc"]
        else:
            est = nml.DLE(feature_column_names=["x0", "x1"], y_pred="y_pred", y_true="y_true",
                          chunk_size=window, metrics=["mae", "rmse"]).fit(ref)
            metrics = ["mae", "rmse"]
        try:
            res["sweep"][run] = rows(est.estimate(ana.drop(columns=["y_true"])), metrics)
        except Exception as exc:  # a reference too small for NannyML: recorded, not fatal
            res["sweep"][run] = str(exc)
(out / "nannyml.json").write_text(json.dumps(res))
"""


def anchor_python() -> Path:
    """The anchor venv's interpreter, creating the venv on first use."""
    python = ANCHOR_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {ANCHOR_VENV} with {' '.join(ANCHOR_PACKAGES)} ...", flush=True)
        venv.create(ANCHOR_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ANCHOR_PACKAGES], check=True)
    return python


def run_anchor(tmp: Path, chunk_size: int) -> dict[str, Any]:
    script = tmp / "anchor.py"
    script.write_text(ANCHOR_SCRIPT)
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(anchor_python()), str(script), str(tmp), str(chunk_size)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:  # NannyML/LightGBM chatter is shown only when it failed
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"the NannyML side failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads((tmp / "nannyml.json").read_text())
    return result


def realised(kind: str, chunk: pd.DataFrame) -> dict[str, float]:
    if kind == "binary":
        y, p = chunk["repaid"].astype(int), chunk["y_pred"].astype(int)
        return {
            "roc_auc": roc_auc_score(y, chunk["y_pred_proba"]),
            "accuracy": accuracy_score(y, p),
            "f1": f1_score(y, p),
        }
    if kind == "multiclass":
        y, p = chunk["y_true"], chunk["y_pred"]
        proba = chunk[[f"y_pred_proba_{c}" for c in MULTI_CLASSES]].to_numpy()
        return {
            "roc_auc": roc_auc_score(y, proba, multi_class="ovr", labels=MULTI_CLASSES),
            "accuracy": accuracy_score(y, p),
            "f1": f1_score(y, p, average="macro"),
        }
    err = chunk["y_pred"] - chunk["y_true"]
    return {
        "mae": mean_absolute_error(chunk["y_true"], chunk["y_pred"]),
        "rmse": float(np.sqrt(np.mean(err**2))),
    }


def price_matrix(df: pd.DataFrame, codes: dict[str, list[str]]) -> np.ndarray:
    cols = [df[c].to_numpy(dtype=float) for c in PRICE_FEATURES]
    for c in PRICE_CATEGORICAL:
        cols.append(pd.Categorical(df[c], categories=codes[c]).codes.astype(float))
    return np.column_stack(cols)


def ours(kind: str, ref: pd.DataFrame, ana: pd.DataFrame, bounds: list[tuple[int, int]]) -> Any:
    """Fit on the reference, estimate each chunk; returns (seconds, per-chunk dicts)."""
    t = time.perf_counter()
    out = []
    if kind == "binary":
        est = CBPE(pos_label=1).fit(
            ref["y_pred_proba"], ref["repaid"].astype(int), ref["y_pred"].astype(int)
        )
        for s, e in bounds:
            c = ana.iloc[s : e + 1]
            r = est.estimate_arrays(c["y_pred_proba"], c["y_pred"].astype(int))
            out.append({m: getattr(r, m) for m in ("roc_auc", "accuracy", "f1")})
    elif kind == "multiclass":
        cols = [f"y_pred_proba_{c}" for c in MULTI_CLASSES]
        est = CBPE().fit(ref[cols], ref["y_true"], ref["y_pred"], classes=MULTI_CLASSES)
        for s, e in bounds:
            c = ana.iloc[s : e + 1]
            r = est.estimate_arrays(c[cols], c["y_pred"])
            out.append({m: getattr(r, m) for m in ("roc_auc", "accuracy", "f1")})
    else:
        codes = {c: sorted(ref[c].astype(str).unique()) for c in PRICE_CATEGORICAL}
        n_num = len(PRICE_FEATURES)
        dle = DLE(categorical_features=[n_num, n_num + 1]).fit(
            price_matrix(ref, codes), ref["y_pred"], ref["y_true"]
        )
        for s, e in bounds:
            c = ana.iloc[s : e + 1]
            r = dle.estimate_arrays(price_matrix(c, codes), c["y_pred"])
            out.append({"mae": r.mae, "rmse": r.rmse})
    return time.perf_counter() - t, out


def coverage(bands: list[tuple[Any, Any]], real: np.ndarray) -> float:
    """Share of chunks whose band holds the realised value (a missing band misses)."""
    hits = [lo is not None and lo <= r <= hi for (lo, hi), r in zip(bands, real, strict=True)]
    return float(np.mean(hits))


def sweep_frame(kind: str, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Synthetic rows where the truth is known: ``cbpe`` a perfectly calibrated binary
    classifier, ``dle`` a regressor whose error grows with ``x1``."""
    if kind == "cbpe":
        p = 1.0 / (1.0 + np.exp(-2.5 * rng.normal(size=n)))
        y = (rng.uniform(size=n) < p).astype(int)
        return pd.DataFrame({"score": p, "y_pred": (p >= 0.5).astype(int), "y_true": y})
    x = rng.normal(size=(n, 2))
    pred = 3 * x[:, 0]
    y = pred + rng.normal(size=n) * np.exp(0.5 * x[:, 1])
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y_pred": pred, "y_true": y})


def write_sweep(tmp: Path, refs: int, windows: int, window: int) -> dict[str, int]:
    """The sweep's references and analysis files (shared with the NannyML side)."""
    runs = {}
    for kind in ("cbpe", "dle"):
        for size in SWEEP_SIZES:
            for r in range(refs):
                rng = np.random.default_rng([size, r])
                name = f"{kind}_{size}_{r}"
                sweep_frame(kind, rng, size).to_parquet(tmp / f"{name}_reference.parquet")
                ana = sweep_frame(kind, rng, windows * window)
                ana.to_parquet(tmp / f"{name}_analysis.parquet")
                runs[name] = window
    (tmp / "sweep.json").write_text(json.dumps(runs))
    return runs


def ours_sweep(name: str, ref: pd.DataFrame, ana: pd.DataFrame, window: int) -> Any:
    """Per window {metric: Estimate}, or None when the monitor would say
    ``insufficient_reference`` (its minimum reference sizes)."""
    chunks = [ana.iloc[s : s + window] for s in range(0, len(ana), window)]
    if name.startswith("cbpe"):
        fewest = int(ref["y_true"].value_counts().reindex([0, 1], fill_value=0).min())
        if len(ref) < CBPE_MIN_REFERENCE_ROWS or fewest < CBPE_MIN_CLASS_ROWS:
            return None
        est = CBPE(n_bootstrap=200).fit(ref["score"], ref["y_true"], ref["y_pred"])
        res = [est.estimate_arrays(c["score"], c["y_pred"]) for c in chunks]
        return [{"accuracy": r.accuracy, "roc_auc": r.roc_auc} for r in res]
    if len(ref) < DLE_MIN_REFERENCE_ROWS:
        return None
    dle = DLE().fit(ref[["x0", "x1"]].to_numpy(), ref["y_pred"], ref["y_true"])
    out = []
    for c in chunks:
        r = dle.estimate_arrays(c[["x0", "x1"]].to_numpy(), c["y_pred"])
        out.append({"mae": r.mae, "rmse": r.rmse})
    return out


def sweep_realised(name: str, chunk: pd.DataFrame) -> dict[str, float]:
    if name.startswith("cbpe"):
        y = chunk["y_true"]
        return {
            "accuracy": accuracy_score(y, chunk["y_pred"]),
            "roc_auc": roc_auc_score(y, chunk["score"]),
        }
    err = chunk["y_pred"] - chunk["y_true"]
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}


def print_sweep(tmp: Path, runs: dict[str, int], anchor: dict[str, Any] | None) -> None:
    """Per method, size and metric: error and coverage, ours beside NannyML's."""
    header = (
        f"{'method':<6} {'ref rows':>8} {'metric':<9} {'windows':>7} {'insuff.':>7} "
        f"{'err ours':>9} {'cover':>6} {'err nml':>9} {'cover':>6}"
    )
    print(f"\nreference-size sweep; windows of {next(iter(runs.values()))} rows")
    print(header)
    print("-" * len(header))
    nml = (anchor or {}).get("sweep", {})
    for kind in ("cbpe", "dle"):
        for size in SWEEP_SIZES:
            names = [n for n in runs if n.startswith(f"{kind}_{size}_")]
            acc: dict[str, dict[str, list[float]]] = {}
            insufficient = 0
            for name in names:
                window = runs[name]
                ref = pd.read_parquet(tmp / f"{name}_reference.parquet")
                ana = pd.read_parquet(tmp / f"{name}_analysis.parquet")
                mine = ours_sweep(name, ref, ana, window)
                insufficient += mine is None
                theirs = nml.get(name)
                chunks = [ana.iloc[s : s + window] for s in range(0, len(ana), window)]
                for i, chunk in enumerate(chunks):
                    for metric, real in sweep_realised(name, chunk).items():
                        a = acc.setdefault(metric, {k: [] for k in ("eo", "co", "en", "cn")})
                        if mine is not None:
                            e = mine[i][metric]
                            a["eo"].append(abs(e.value - real))
                            a["co"].append(e.lower is not None and e.lower <= real <= e.upper)
                        if isinstance(theirs, list) and i < len(theirs):
                            v, lo, hi = theirs[i][metric]
                            a["en"].append(abs(v - real))
                            a["cn"].append(bool(lo <= real <= hi))
            for metric, a in acc.items():
                cells = [
                    f"{np.mean(a[k]):>{w}.{d}{f}}" if a[k] else f"{'-':>{w}}"
                    for k, w, d, f in (("eo", 9, 4, "f"), ("co", 6, 0, "%"))
                ] + [
                    f"{np.mean(a[k]):>{w}.{d}{f}}" if a[k] else f"{'-':>{w}}"
                    for k, w, d, f in (("en", 9, 4, "f"), ("cn", 6, 0, "%"))
                ]
                n_windows = len(a["eo"]) or len(a["en"])
                print(
                    f"{kind:<6} {size:>8} {metric:<9} {n_windows:>7} "
                    f"{insufficient / max(len(names), 1):>7.0%} " + " ".join(cells)
                )
    print("insuff.: share of references the monitor calls insufficient_reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--window", type=int, default=300, help="sweep: rows per window")
    parser.add_argument("--sweep-refs", type=int, default=20, help="sweep: references per size")
    parser.add_argument("--sweep-windows", type=int, default=5, help="sweep: windows per ref")
    parser.add_argument(
        "--no-nannyml", action="store_true", help="only the sweep, ours only (no anchor venv)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        runs = write_sweep(tmp, args.sweep_refs, args.sweep_windows, args.window)
        if args.no_nannyml:
            print_sweep(tmp, runs, None)
            return
        anchor = run_anchor(tmp, args.chunk_size)
        anchor_sweep = {"sweep": anchor.pop("sweep", {})}
        print(f"chunk_size={args.chunk_size}; error = mean |estimate - realised| over chunks")
        header = (
            f"{'dataset':<11} {'metric':<9} {'chunks':>6} {'ours':>9} {'nannyml':>9} "
            f"{'ratio':>6} {'cover ours':>10} {'cover nml':>9}"
        )
        print(header)
        print("-" * len(header))
        for kind, data in anchor.items():
            ref = pd.read_parquet(tmp / f"{kind}_reference.parquet")
            ana = pd.read_parquet(tmp / f"{kind}_analysis.parquet")
            bounds = [(c["start"], c["end"]) for c in data["chunks"]]
            seconds, mine = ours(kind, ref, ana, bounds)
            truth = [realised(kind, ana.iloc[s : e + 1]) for s, e in bounds]
            for metric in truth[0]:
                real = np.array([t[metric] for t in truth])
                ours_v = np.array([m[metric].value for m in mine], dtype=float)
                nml_v = np.array([c[metric][0] for c in data["chunks"]])
                err_o, err_n = np.mean(np.abs(ours_v - real)), np.mean(np.abs(nml_v - real))
                bands_o = [(m[metric].lower, m[metric].upper) for m in mine]
                bands_n = [(c[metric][1], c[metric][2]) for c in data["chunks"]]
                cov_o, cov_n = coverage(bands_o, real), coverage(bands_n, real)
                print(
                    f"{kind:<11} {metric:<9} {len(real):>6} {err_o:>9.6f} {err_n:>9.6f} "
                    f"{err_o / err_n:>6.3f} {cov_o:>10.0%} {cov_n:>9.0%}"
                )
            print(
                f"{kind:<11} {'seconds':<9} {'':>6} {seconds:>9.2f} {data['seconds']:>9.2f} "
                f"{seconds / data['seconds']:>6.3f}"
            )
        print("bands: ours = 95% interval; NannyML = estimate +/- 3 sampling errors")
        print_sweep(tmp, runs, anchor_sweep)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
