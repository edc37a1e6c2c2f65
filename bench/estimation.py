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

Usage: ``PYTHONPATH=src python bench/estimation.py [--chunk-size 5000]``
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

from mlwarden.stats.estimation import CBPE, DLE

HERE = Path(__file__).resolve().parent
ANCHOR_VENV = HERE / ".anchors-venv"
ANCHOR_PACKAGES = ["nannyml", "statsmodels", "pandas<3"]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-size", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        anchor = run_anchor(tmp, args.chunk_size)
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
    sys.stdout.flush()


if __name__ == "__main__":
    main()
