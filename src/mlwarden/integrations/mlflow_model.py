"""A model in MLflow's registry as mlwarden registers it: the model URI resolved to a registry
version (or a run's model), its signature turned into a spec and its logged training (or
validation) dataset into the reference.

* ``models:/churn/3``, ``models:/churn@champion``: a registry version (aliases kept);
  ``runs:/<run id>/model``: a run's model (no registry version: name it with ``--name``).
* The signature's inputs are the features (``double``/``float``/``integer``/``long``: numeric,
  ``boolean``, ``string``: categorical, ``datetime``: timestamp); its first output the
  prediction (an integer, boolean or string output makes a classifier, a float one a
  regressor, unless the target's values or ``--task`` say otherwise).
* The reference is the dataset the run logged with ``mlflow.log_input`` (context ``training``
  first, then ``validation``/``eval``), read where MLflow says it lives: a local file, or an
  ``mlflow-artifacts:`` artifact through the tracking server. The target: ``--target``, else
  the dataset input's tag ``targets`` (the tracking server keeps no ``targets`` of a pandas
  dataset: ``mlflow.log_input(ds, context="training", tags={"targets": "churned"})``), else
  the dataset's one column that is not a signature input.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import yaml

from mlwarden.errors import MlwardenError, NotFoundError, SchemaError, ValidationError, expected
from mlwarden.integrations.mlflow_rest import MlflowRest
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task

__all__ = [
    "CONTEXTS",
    "MlflowModel",
    "ModelRef",
    "Signature",
    "parse_model_uri",
    "read_dataset",
    "resolve",
    "spec_of",
]

#: Dataset contexts tried for the reference, in order.
CONTEXTS = ("training", "train", "validation", "eval", "evaluation", "test")
_KINDS = {
    "double": FeatureKind.NUMERIC,
    "float": FeatureKind.NUMERIC,
    "integer": FeatureKind.NUMERIC,
    "long": FeatureKind.NUMERIC,
    "boolean": FeatureKind.BOOLEAN,
    "string": FeatureKind.CATEGORICAL,
    "datetime": FeatureKind.TIMESTAMP,
}
_CLASS_OUTPUTS = ("integer", "long", "boolean", "string")
_URI = re.compile(
    r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_\-]+))$"
    r"|^runs:/(?P<run>[0-9a-zA-Z]+)/(?P<path>.+)$"
)


@dataclass(frozen=True)
class ModelRef:
    """A parsed model URI: a registry version, an alias, or a run's model path."""

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None


def parse_model_uri(uri: str) -> ModelRef:
    """Examples
    --------
    >>> parse_model_uri("models:/churn@champion")
    ModelRef(uri='models:/churn@champion', name='churn', version=None, alias='champion', run_id=None, path=None)
    >>> parse_model_uri("runs:/9f1c/model").run_id
    '9f1c'
    >>> parse_model_uri("models:/churn/latest")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The 'from-mlflow' option must be models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH. Got 'models:/churn/latest' instead.
    """  # noqa: E501
    m = _URI.match(uri.strip())
    if m is None:
        raise ValidationError(
            expected(
                "option",
                "from-mlflow",
                "be models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH",
                uri,
            )
        )
    return ModelRef(
        uri=uri,
        name=unquote(m["name"]) if m["name"] else None,
        version=m["version"],
        alias=m["alias"],
        run_id=m["run"],
        path=m["path"],
    )


@dataclass(frozen=True)
class Signature:
    """A model signature's column specs (``{"name", "type", "required"}`` each)."""

    inputs: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class MlflowModel:
    """What MLflow knows of the model: registry entry (if any), run, signature, datasets."""

    ref: ModelRef
    signature: Signature
    run_id: str | None
    source: str | None
    name: str | None = None
    version: str | None = None
    aliases: tuple[str, ...] = ()
    #: The run's dataset inputs (``{"context", "name", "source_type", "source", "targets"}``).
    datasets: tuple[dict[str, Any], ...] = ()
    #: The run's page in the tracking server's UI.
    run_url: str | None = None
    notes: tuple[str, ...] = field(default=())


def _tags(items: Any) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or [] if isinstance(t, dict) and "key" in t}


def _signature(mlmodel: bytes, where: str) -> Signature:
    try:
        doc = yaml.safe_load(mlmodel)
        sig = doc.get("signature") if isinstance(doc, dict) else None
        if not sig or not sig.get("inputs"):
            raise SchemaError(
                f"The model at {where} has no signature; log it with one "
                "(mlflow.models.infer_signature(X, model.predict(X))) so mlwarden can read its "
                "features."
            )
        inputs = json.loads(sig["inputs"])
        outputs = json.loads(sig["outputs"]) if sig.get("outputs") else []
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
        raise SchemaError(f"The MLmodel file at {where} cannot be read: {exc}") from exc
    if any(c.get("type") == "tensor" or "name" not in c for c in inputs):
        raise SchemaError(
            f"The model at {where} has a tensor (or unnamed) input signature; mlwarden needs "
            "named columns (a column-based signature, e.g. from a DataFrame)."
        )
    return Signature(tuple(inputs), tuple(outputs))


def _model_dir(
    client: MlflowRest, source: str, run: dict[str, Any] | None, path: str | None
) -> str:
    """The artifact URI of the model's directory (the one holding its MLmodel file)."""
    if source.startswith("models:/m-"):  # an MLflow 3 logged model
        model_id = source.removeprefix("models:/")
        info = client.logged_model(model_id).get("info", {})
        return str(info["artifact_uri"])
    if source.startswith("runs:/") and run is not None:
        rel = source.split("/", 2)[2] if source.count("/") >= 2 else (path or "model")
        return f"{run['info']['artifact_uri'].rstrip('/')}/{rel}"
    return source


def _run_model_source(client: MlflowRest, run: dict[str, Any], path: str) -> str:
    """A run's model named ``path``: an MLflow 3 logged model the run output, else the run's
    artifact folder ``path`` (MLflow 2)."""
    for out in (run.get("outputs") or {}).get("model_outputs") or []:
        model_id = out.get("model_id")
        if model_id and client.logged_model(model_id).get("info", {}).get("name") == path:
            return f"models:/{model_id}"
    return f"runs:/{run['info']['run_id']}/{path}"


def resolve(client: MlflowRest, ref: ModelRef) -> MlflowModel:
    """Look ``ref`` up: its registry version (aliases), run, signature and datasets."""
    mv: dict[str, Any] | None = None
    if ref.alias is not None and ref.name is not None:
        mv = client.model_version_by_alias(ref.name, ref.alias)
    elif ref.version is not None and ref.name is not None:
        mv = client.model_version(ref.name, ref.version)
    run_id = str(mv["run_id"]) if mv is not None and mv.get("run_id") else ref.run_id
    run = client.run(run_id) if run_id else None
    if mv is not None:
        source = str(mv.get("source") or "")
        if source.startswith("runs:/") and run is None:
            raise MlwardenError(f"Model version {ref.name}/{mv['version']} names no run.")
    else:
        assert run is not None and ref.path is not None  # a runs:/ URI
        source = _run_model_source(client, run, ref.path)
    model_dir = _model_dir(client, source, run, ref.path)
    where = f"{ref.name}/{mv['version']}" if mv is not None else ref.uri
    try:
        mlmodel = client.artifact(f"{model_dir.rstrip('/')}/MLmodel")
    except NotFoundError as exc:
        raise NotFoundError(f"The model {where} has no MLmodel file at {model_dir}.") from exc
    datasets: list[dict[str, Any]] = []
    run_url = None
    if run is not None:
        info = run["info"]
        run_url = (
            f"{client.tracking_uri}/#/experiments/{info['experiment_id']}/runs/{info['run_id']}"
        )
        for di in (run.get("inputs") or {}).get("dataset_inputs") or []:
            ds = di.get("dataset") or {}
            tags = _tags(di.get("tags"))
            datasets.append(
                {
                    "context": tags.get("mlflow.data.context", ""),
                    "name": ds.get("name", ""),
                    "source_type": ds.get("source_type", ""),
                    "source": ds.get("source", ""),
                    "targets": tags.get("targets") or _role(ds, "targets"),
                    "predictions": tags.get("predictions") or _role(ds, "predictions"),
                }
            )
    aliases = tuple(str(a) for a in (mv or {}).get("aliases") or [])
    return MlflowModel(
        ref=ref,
        signature=_signature(mlmodel, where),
        run_id=run_id,
        source=source,
        name=ref.name if mv is not None else None,
        version=str(mv["version"]) if mv is not None else None,
        aliases=aliases,
        datasets=tuple(datasets),
        run_url=run_url,
    )


def _role(ds: dict[str, Any], key: str) -> str | None:
    """The target (``targets``) or prediction (``predictions``) column a dataset names (pandas
    and Spark datasets record them in their profile or schema, by MLflow version)."""
    for key in ("profile", "schema"):
        try:
            doc = json.loads(ds.get(key) or "{}")
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get(key), str):
            return str(doc[key])
    t = ds.get(key)
    return t if isinstance(t, str) and t else None


def _output_type(out: dict[str, Any]) -> str | None:
    """A signature output's column type; a tensor's by its dtype (``int64``: ``long``)."""
    if out.get("type") != "tensor":
        return str(out["type"]) if out.get("type") else None
    dtype = str((out.get("tensor-spec") or {}).get("dtype", ""))
    if dtype.startswith(("int", "uint")):
        return "long"
    if dtype.startswith("float"):
        return "double"
    return {"bool": "boolean", "object": "string", "str": "string"}.get(dtype)


def pick_dataset(model: MlflowModel) -> dict[str, Any] | None:
    """The reference dataset: one that names its prediction column (its rows were scored, so
    performance monitors can be fitted) before one that does not; then by :data:`CONTEXTS`,
    else the first logged."""
    for scored in (True, False):
        for ctx in CONTEXTS:
            for d in model.datasets:
                if d["context"] == ctx and bool(d.get("predictions")) == scored:
                    return d
    return model.datasets[0] if model.datasets else None


def read_dataset(client: MlflowRest, dataset: dict[str, Any]) -> pa.Table:
    """A logged dataset's rows, from where its source says: a local file, an
    ``mlflow-artifacts:`` artifact (Parquet or CSV)."""
    try:
        src = json.loads(dataset.get("source") or "{}")
    except ValueError:
        src = {}
    uri = src.get("uri") or src.get("url") or src.get("path") if isinstance(src, dict) else None
    label = f"dataset {dataset.get('name') or '?'!r} ({dataset.get('source_type')})"
    if not uri:
        raise MlwardenError(
            f"The {label} names no file to read: pass the reference data as a file "
            "(mlwarden models register FILE --from-mlflow ...)."
        )
    uri = str(uri)
    parts = urlsplit(uri)
    if parts.scheme == "mlflow-artifacts":
        data, suffix = client.artifact(uri), Path(parts.path).suffix.lower()
    elif parts.scheme in ("", "file"):
        path = Path(unquote(parts.path) if parts.scheme == "file" else uri)
        if not path.is_file():
            raise NotFoundError(
                f"The {label} is the file {str(path)!r}, which is not here; pass the reference "
                "data as a file (mlwarden models register FILE --from-mlflow ...)."
            )
        data, suffix = path.read_bytes(), path.suffix.lower()
    else:
        raise MlwardenError(
            f"The {label} lives at {uri!r}, which mlwarden does not fetch (it reads local "
            "files and mlflow-artifacts: artifacts); pass it as a file (mlwarden models "
            "register FILE --from-mlflow ...)."
        )
    return _table(data, suffix, label)


def _table(data: bytes, suffix: str, label: str) -> pa.Table:
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(io.BytesIO(data))
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"The {label} cannot be read as {suffix} data: {exc}") from exc
    raise ValidationError(
        expected("file type", label, "be .parquet or .csv", suffix or "no suffix")
    )


def spec_of(
    model: MlflowModel,
    reference: pa.Table,
    *,
    name: str,
    task: str | None = None,
    target: str | None = None,
    prediction: str | None = None,
) -> tuple[ModelSpec, list[str]]:
    """The spec: features and their kinds from the signature's inputs, the prediction from its
    first output, task and classes from the target's (or output's) values; notes on how."""
    from mlwarden.schema.infer import infer_spec

    notes: list[str] = []
    kinds: dict[str, FeatureKind] = {}
    for col in model.signature.inputs:
        kind = _KINDS.get(str(col.get("type")))
        if kind is None:
            notes.append(f"Input {col['name']!r} ({col.get('type')}) left out: not a column type.")
            continue
        kinds[str(col["name"])] = kind
    missing = [c for c in kinds if c not in reference.column_names]
    if missing:
        raise SchemaError(
            f"The reference data lacks the signature's input columns {missing}; its columns "
            f"are {reference.column_names}."
        )
    out = model.signature.outputs[0] if model.signature.outputs else {}
    out_type = _output_type(out)
    pred = prediction or (str(out["name"]) if out.get("name") in reference.column_names else None)
    if target is None:  # a training set is the inputs and the label: the one column left
        inputs = {str(c["name"]) for c in model.signature.inputs}
        rest = [c for c in reference.column_names if c not in inputs and c != pred]
        if len(rest) == 1:
            target = rest[0]
            notes.append(f"Target: column {target!r} (the dataset's one non-input column).")
    if task is None and target is None and pred is None and out_type:
        task = Task.BINARY.value if out_type in _CLASS_OUTPUTS else Task.REGRESSION.value
        notes.append(f"Task: {task!r} (from the signature's {out_type} output).")
    inf = infer_spec(
        reference,
        name=name,
        task=task,
        target=target,
        prediction=pred,
        features=list(kinds),
        kinds=dict(kinds),
        # inputs of no column type are no target either
        exclude=[
            str(c["name"])
            for c in model.signature.inputs
            if c["name"] not in kinds and c["name"] in reference.column_names
        ],
    )
    notes.extend(inf.notes)
    spec = inf.spec
    return spec, notes
