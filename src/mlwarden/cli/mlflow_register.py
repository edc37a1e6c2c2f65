"""``mlwarden models register --from-mlflow URI``: a model registered from MLflow's registry.

The CLI reads MLflow (the model version, its run, signature and logged dataset) and writes to
the mlwarden server through its API: the spec, the version (with its aliases, run link and the
registry entry it mirrors), the reference, the monitors. An alias moved from another version
of the same registered model is taken off that version.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlwarden.cli.client import ApiClient
from mlwarden.errors import ValidationError
from mlwarden.integrations.mlflow_model import (
    parse_model_uri,
    pick_dataset,
    read_dataset,
    resolve,
    spec_of,
)
from mlwarden.integrations.mlflow_rest import MlflowRest
from mlwarden.schema.spec import ModelSpec, check_name

__all__ = ["Registered", "register_from_mlflow"]


@dataclass(frozen=True)
class Registered:
    """What the registration did (for the CLI's summary)."""

    model: str
    version: str
    aliases: tuple[str, ...]
    rows: int
    reference_id: int
    monitors: int | None
    notes: tuple[str, ...]
    run_url: str | None


def _read_file(path: Path) -> pa.Table:
    from mlwarden.cli.logfile import read_file

    return read_file(path)


def register_from_mlflow(
    api: ApiClient,
    uri: str,
    *,
    tracking_uri: str,
    token: str | None = None,
    name: str | None = None,
    version: str | None = None,
    reference: Path | None = None,
    task: str | None = None,
    target: str | None = None,
    segments: list[str] | None = None,
    sensitive: list[str] | None = None,
    run_url: str | None = None,
    update: bool = False,
    monitors: bool = True,
) -> Registered:
    ref = parse_model_uri(uri)
    with MlflowRest(tracking_uri, token=token) as mlflow:
        model = resolve(mlflow, ref)
        dataset = pick_dataset(model)
        if reference is not None:
            table = _read_file(reference)
        elif dataset is not None:
            table = read_dataset(mlflow, dataset)
        else:
            raise ValidationError(
                f"The run of {uri} logged no dataset (mlflow.log_input) to use as the "
                "reference: pass the reference data as a file "
                "(mlwarden models register FILE --from-mlflow ...)."
            )
    name = name or model.name
    if not name:
        raise ValidationError(
            f"The model of {uri} is not in MLflow's registry: name it in mlwarden with --name."
        )
    check_name(name, "model name (--name)")
    if target is None and dataset is not None and dataset.get("targets") in table.column_names:
        target = dataset["targets"]
    prediction = (dataset or {}).get("predictions")
    if prediction not in table.column_names:
        prediction = None
    spec, notes = spec_of(model, table, name=name, task=task, target=target, prediction=prediction)
    if segments or sensitive:
        spec = ModelSpec.model_validate(
            {**spec.model_dump(), "segments": segments or [], "sensitive": sensitive or []}
        )
    version = check_name(
        version or model.version or f"run-{(model.run_id or 'unknown')[:12]}", "version name"
    )
    api.request(
        "POST",
        "/v1/models",
        params={"replace": "true"} if update else None,
        json=spec.model_dump(mode="json"),
    )
    _take_aliases(api, name, version, model.name, model.aliases)
    body: dict[str, Any] = {
        "version": version,
        "description": f"MLflow {model.name}/{model.version}" if model.version else uri,
        "aliases": list(model.aliases),
        "run_url": run_url or model.run_url,
    }
    if model.version is not None and model.name is not None:
        body["mlflow"] = {
            "name": model.name,
            "version": model.version,
            "run_id": model.run_id,
            "source": model.source,
        }
    api.request("POST", f"/v1/models/{name}/versions", json=body)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    ref_out = api.request(
        "POST",
        f"/v1/models/{name}/reference",
        params={"version": version, "name": f"mlflow:{(dataset or {}).get('name') or 'reference'}"},
        content=sink.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    n_monitors = None
    if monitors:
        suite = api.request("POST", f"/v1/models/{name}/monitors/setup", json={})
        n_monitors = len(suite["plan"])
    return Registered(
        model=name,
        version=version,
        aliases=model.aliases,
        rows=int(ref_out["rows"]),
        reference_id=int(ref_out["id"]),
        monitors=n_monitors,
        notes=tuple(notes),
        run_url=body["run_url"],
    )


def _take_aliases(
    api: ApiClient, model: str, version: str, mlflow_name: str | None, aliases: tuple[str, ...]
) -> None:
    """Registry aliases name one version each: take ``aliases`` off the model's other versions
    of the same registered model (the alias moved in MLflow)."""
    if not aliases:
        return
    for v in api.request("GET", f"/v1/models/{model}/versions"):
        held = [a for a in v.get("aliases", []) if a in aliases]
        if v["version"] == version or not held:
            continue
        if mlflow_name is not None and (v.get("mlflow") or {}).get("name") not in (
            None,
            mlflow_name,
        ):
            continue
        api.request(
            "POST",
            f"/v1/models/{model}/versions",
            json={
                "version": v["version"],
                "description": v.get("description", ""),
                "metadata": v.get("metadata", {}),
                "run_url": v.get("run_url"),
                "aliases": [a for a in v.get("aliases", []) if a not in aliases],
                "mlflow": v.get("mlflow"),
            },
        )
