"""Run by the MLflow venv's python: what mlwarden wrote to MLflow, read through MLflow's own
client. Prints JSON: the model version's tags and its monitoring run (tags, metric histories).

    python read_back.py TRACKING_URI MODEL_NAME VERSION
"""

import json
import sys

import mlflow
from mlflow.tracking import MlflowClient

tracking_uri, name, version = sys.argv[1:4]
mlflow.set_tracking_uri(tracking_uri)
client = MlflowClient()
mv = client.get_model_version(name, version)
out = {"version_tags": dict(mv.tags), "run": None}
run_id = mv.tags.get("mlwarden.monitoring_run")
if run_id:
    run = client.get_run(run_id)
    exp = client.get_experiment(run.info.experiment_id)
    out["run"] = {
        "experiment": exp.name,
        "tags": dict(run.data.tags),
        "history": {
            key: [(m.step, m.value, m.timestamp) for m in client.get_metric_history(run_id, key)]
            for key in run.data.metrics
        },
    }
print(json.dumps(out))
