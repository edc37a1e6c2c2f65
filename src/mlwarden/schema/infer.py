"""Infer a model spec from reference data, so a model is registered in one call.

Accepts a pandas or polars DataFrame, a pyarrow Table, or a path to a CSV or
Parquet file. Kinds are inferred from Arrow types and value statistics:

* booleans → ``boolean``; integers and floats → ``numeric``;
* strings → ``categorical``, or ``text`` when values are long or many-worded;
  string columns with (nearly) one distinct value per row are identifiers and
  are left out, with a note;
* timestamps and dates → ``timestamp``; lists of numbers → ``embedding``.

The task comes from the target (or prediction) column: two distinct values →
binary, a few integer or string labels → multiclass, otherwise regression.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import SchemaError, expected
from mlwarden.schema.limits import MAX_MAGNITUDE, without_huge_rows
from mlwarden.schema.roles import guess_target
from mlwarden.schema.roles import normalized_name as _norm
from mlwarden.schema.spec import (
    COLUMN_RE,
    RESERVED_FIELDS,
    Feature,
    FeatureKind,
    ModelSpec,
    Task,
    _label,
)
from mlwarden.tables import to_arrow

__all__ = ["Inference", "infer_spec", "to_arrow"]

PREDICTION_NAMES = ("prediction", "pred", "y_pred", "predicted", "predicted_label")
SCORE_NAMES = ("score", "proba", "probability", "y_score", "y_proba", "predicted_probability")
TIMESTAMP_NAMES = ("timestamp", "ts", "event_time", "time", "datetime")
ID_NAMES = ("event_id", "id", "identifier", "request_id")
#: First words that make a column's name a prediction's or a score's ("pred (class)",
#: "score/prob"), used when exactly one column has one.
_ROLE_PREFIXES = {
    "prediction": ("prediction", "pred", "predicted"),
    "score": ("score", "proba", "probability", "prob"),
}
MAX_CLASSES = 50
TEXT_MEAN_LEN = 40


@dataclass(frozen=True)
class Inference:
    """An inferred spec and the notes explaining each non-obvious choice."""

    spec: ModelSpec
    notes: tuple[str, ...] = field(default=())


def infer_spec(
    data: Any,
    *,
    name: str,
    task: Task | str | None = None,
    target: str | None = None,
    prediction: str | None = None,
    score: str | None = None,
    scores: Sequence[str] = (),
    timestamp: str | None = None,
    event_id: str | None = None,
    segments: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    features: Sequence[str] | None = None,
    kinds: dict[str, FeatureKind | str] | None = None,
    exclude: Sequence[str] = (),
) -> Inference:
    """Infer a :class:`ModelSpec` from reference data.

    Column roles not given are guessed by common names (``prediction``/``pred``,
    ``score``/``proba``, ``timestamp``, ``event_id``); the target by name or, failing that, as
    the one column holding the prediction's labels that agrees with it
    (:func:`mlwarden.schema.roles.guess_target`). The notes say what each role is and why,
    and which columns were left out.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"age": [31, 45, 22, 60], "city": ["a", "b", "a", "c"],
    ...               "prediction": [0, 1, 0, 1], "target": [0, 1, 1, 1]})
    >>> inf = infer_spec(t, name="churn")
    >>> inf.spec.task.value, [(f.name, f.kind.value) for f in inf.spec.features]
    ('binary', [('age', 'numeric'), ('city', 'categorical')])
    """
    table = to_arrow(data)
    cols: list[str] = list(table.column_names)
    if table.num_columns == 0:
        raise SchemaError("The reference data has no columns.")
    notes: list[str] = []

    def role(given: str | None, names: Sequence[str], what: str) -> str | None:
        if given is not None:
            if given not in cols:
                raise SchemaError(
                    expected(
                        "column", given, f"be a column of the data ({', '.join(cols)})", given
                    ).replace(f"The {given!r} column must", f"The {what} column {given!r} must")
                )
            notes.append(f"{what.capitalize()}: column {given!r} (given).")
            return given
        for n in names:
            if n in cols:
                notes.append(f"{what.capitalize()}: column {n!r} (by its name).")
                return n
        # the same names written otherwise: "Prediction", "y-pred", "Score (prob)"
        normed = {c: _norm(c) for c in cols}
        for n in names:
            like = [c for c in cols if normed[c] == n]
            if len(like) == 1:
                notes.append(f"{what.capitalize()}: column {like[0]!r} (by its name).")
                return like[0]
        prefixes = _ROLE_PREFIXES.get(what, ())
        like = [
            c
            for c in cols
            if normed[c].split("_")[0] in prefixes
            and (what != "score" or pa.types.is_floating(table.schema.field(c).type))
        ]
        if len(like) == 1:
            notes.append(f"{what.capitalize()}: column {like[0]!r} (named like a {what}).")
            return like[0]
        return None

    target_col = role(target, (), "target")
    pred_col = role(prediction, PREDICTION_NAMES, "prediction")
    score_col = role(score, SCORE_NAMES, "score")
    ts_col = role(timestamp, TIMESTAMP_NAMES, "timestamp")
    id_col = role(event_id, ID_NAMES, "event id")
    for s in (*scores, *segments, *sensitive, *exclude):
        if s not in cols:
            raise SchemaError(
                f"The column {s!r} is not in the data; columns are {', '.join(cols)}."
            )
    if target_col is None:
        taken = {pred_col, score_col, ts_col, id_col, *scores, *segments, *sensitive, *exclude}
        if features is not None:
            taken.update(features)
        guess = guess_target(table, taken={c for c in taken if c}, prediction=pred_col)
        target_col = guess.column
        if guess.column is not None:
            notes.append(f"Target: column {guess.column!r} ({guess.reason}).")
        elif pred_col is not None or guess.candidates:
            could = (
                f"; it could be {', '.join(map(repr, guess.candidates))}"
                if guess.candidates
                else ""
            )
            notes.append(
                f"No target column: {guess.reason}{could}. Performance monitors need one: "
                "say which column holds the label (--target COLUMN; target= in Python)."
            )

    label_col = target_col or pred_col
    task_v = Task(task) if task is not None else _infer_task(table, label_col, scores)
    if task is None:
        notes.append(
            f"Task: {task_v.value!r} (from the values of column {label_col!r})."
            if label_col
            else "Task: 'llm' (no target or prediction column)."
        )
    classes: tuple[str, ...] = ()
    if task_v.is_classification and label_col is not None:
        values: set[str] = set()
        for c in (target_col, pred_col):
            if c is not None:
                values.update(
                    _label(v) for v in pc.unique(table.column(c)).to_pylist() if v is not None
                )
        classes = tuple(sorted(values, key=_sort_key))
        if task_v is Task.BINARY and len(classes) > 2:
            raise SchemaError(
                f"A binary model needs at most two classes; the target/prediction columns hold {len(classes)}."
            )
        if task_v is Task.BINARY and len(classes) == 1:
            only = classes[0]
            classes = ("0", "1") if only in ("0", "1") else ()
    if scores and not classes:
        classes = tuple(s for s in scores)

    roles = {c for c in (target_col, pred_col, score_col, ts_col, id_col) if c is not None} | set(
        scores
    )
    chosen = (
        list(features)
        if features is not None
        else [c for c in cols if c not in roles and c not in exclude]
    )
    kinds = dict(kinds or {})
    feats: list[Feature] = []
    tags: set[str] = set()
    for c in chosen:
        if c not in cols:
            raise SchemaError(
                f"The feature {c!r} is not in the data; columns are {', '.join(cols)}."
            )
        if c in RESERVED_FIELDS:
            raise SchemaError(
                f"The column {c!r} is a reserved event field and cannot be a feature; pass it as a role "
                "(target, prediction, score, timestamp, event_id) or in exclude."
            )
        kind = (
            FeatureKind(kinds[c])
            if c in kinds
            else _infer_kind(table.column(c), c, notes, len(chosen))
        )
        if kind is None:
            continue
        if not COLUMN_RE.match(c):
            notes.append(
                f"Left out column {c!r}: a feature's name cannot start or end with a space nor "
                "hold control characters, quotes, backslash, '=', ':' or ','; rename it to "
                "monitor it."
            )
            continue
        dim = None
        if kind is FeatureKind.EMBEDDING:
            lens = pc.list_value_length(table.column(c)).drop_null()
            dim = int(pc.max(lens).as_py()) if len(lens) else None
        feats.append(Feature(name=c, kind=kind, dim=dim))
    _, huge = without_huge_rows(table)
    if huge:
        cols_txt = ", ".join(f"{n} in {c!r}" for c, n in huge.items())
        notes.append(
            f"Reference rows left out of the monitors' fit: values beyond ±{MAX_MAGNITUDE:g} or "
            f"infinite ({cols_txt}); events holding such values are rejected too."
        )
    feature_names = {f.name for f in feats}
    by_kind = Counter(f.kind.value for f in feats)
    notes.append(
        f"Features: {len(feats)}"
        + (f" ({', '.join(f'{n} {k}' for k, n in by_kind.most_common())})" if feats else "")
        + "."
    )
    for group, names in (("segments", segments), ("sensitive attributes", sensitive)):
        if names:
            notes.append(f"{group.capitalize()}: {', '.join(map(repr, names))}.")
    for s in (*segments, *sensitive):
        if s not in feature_names:
            tags.add(s)

    try:
        spec = ModelSpec(
            name=name,
            task=task_v,
            features=tuple(feats),
            prediction=pred_col,
            score=score_col,
            scores=tuple(scores),
            target=target_col,
            timestamp=ts_col,
            event_id=id_col,
            classes=classes,
            segments=tuple(segments),
            sensitive=tuple(sensitive),
        )
    except ValueError as exc:
        raise SchemaError(f"The inferred spec is not valid: {exc}") from exc
    return Inference(spec, tuple(notes))


def _sort_key(v: str) -> tuple[int, float, str]:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def _infer_task(table: pa.Table, label_col: str | None, scores: Sequence[str]) -> Task:
    if scores:
        return Task.MULTICLASS
    if label_col is None:
        return Task.LLM
    col = table.column(label_col).drop_null()
    t = col.type
    distinct = pc.count_distinct(col).as_py()
    if pa.types.is_boolean(t) or distinct <= 2:
        return Task.BINARY
    if pa.types.is_floating(t):
        integral = pc.all(pc.equal(col, pc.floor(col))).as_py()
        if not integral or distinct > MAX_CLASSES:
            return Task.REGRESSION
        return Task.MULTICLASS
    if pa.types.is_integer(t):
        return Task.MULTICLASS if distinct <= MAX_CLASSES else Task.REGRESSION
    return Task.MULTICLASS


def _infer_kind(
    col: pa.ChunkedArray, name: str, notes: list[str], n_features: int
) -> FeatureKind | None:
    t = col.type
    if pa.types.is_dictionary(t):
        return FeatureKind.CATEGORICAL
    if pa.types.is_boolean(t):
        return FeatureKind.BOOLEAN
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FeatureKind.NUMERIC
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return FeatureKind.TIMESTAMP
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        vt = t.value_type
        if pa.types.is_integer(vt) or pa.types.is_floating(vt):
            return FeatureKind.EMBEDDING
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = col.drop_null()
        n = len(values)
        if n == 0:
            notes.append(f"Column {name!r} is empty; treated as categorical.")
            return FeatureKind.CATEGORICAL
        # one hash pass: lengths and spaces of each distinct value, weighted by its count
        # (integer sums, so the means are those over every value)
        vc = pc.value_counts(values)
        uniq, counts = vc.field("values"), vc.field("counts")
        mean_len = _weighted_mean(pc.utf8_length(uniq), counts, n)
        words = _weighted_mean(pc.count_substring(uniq, " "), counts, n)
        if mean_len >= TEXT_MEAN_LEN or words >= 3:
            notes.append(
                f"Column {name!r} holds free text (mean length {mean_len:.0f}); kind 'text'."
            )
            return FeatureKind.TEXT
        distinct = len(uniq)
        if n >= 50 and distinct >= 0.95 * n:
            notes.append(
                f"Left out: column {name!r} has a distinct value in {distinct / n:.0%} of rows, "
                "an identifier (declare it as a feature in the model's spec to keep it)."
            )
            return None
        return FeatureKind.CATEGORICAL
    notes.append(f"Left out: column {name!r} has type {t}, which mlwarden cannot monitor.")
    return None


def _weighted_mean(per_value: pa.Array, counts: pa.Array, n: int) -> float:
    total = pc.sum(pc.multiply(pc.cast(per_value, pa.int64()), counts)).as_py() or 0
    return float(total) / n
