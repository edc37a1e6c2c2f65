"""Run by the MLflow venv's python (tests/integrations/mlflow/): trains a small churn model,
logs it the way MLflow's docs show (signature inferred, the training set logged as a dataset
input with its target named, the file also logged as an artifact), registers it and sets an
alias. Prints what it made as JSON.

    python log_model.py TRACKING_URI WORKDIR MODEL_NAME ALIAS
"""

import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

tracking_uri, workdir, name, alias = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
mlflow.set_tracking_uri(tracking_uri)
mlflow.set_experiment("churn-training")

rng = np.random.default_rng(7)
n = 600
train = pd.DataFrame(
    {
        "age": rng.normal(40, 10, n).round(1),
        "tenure": rng.integers(1, 60, n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
    }
)
logit = 0.08 * (train["age"] - 40) - 0.05 * (train["tenure"] - 30) + (train["plan"] == "basic")
train["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
path = workdir / "train.parquet"
train.to_parquet(path, index=False)

X = pd.get_dummies(train[["age", "tenure", "plan"]], columns=["plan"], dtype=float)
clf = LogisticRegression(max_iter=500).fit(X, train["churned"])


class Churn(mlflow.pyfunc.PythonModel):
    """The pipeline as served: raw columns in, a class out."""

    def __init__(self, clf, columns):
        self.clf, self.columns = clf, columns

    def predict(self, context, model_input, params=None):
        x = pd.get_dummies(model_input, columns=["plan"], dtype=float)
        return self.clf.predict(x.reindex(columns=self.columns, fill_value=0.0))


model = Churn(clf, list(X.columns))
inputs = train[["age", "tenure", "plan"]]
signature = infer_signature(inputs, model.predict(None, inputs))
with mlflow.start_run(run_name="train-churn") as run:
    mlflow.log_artifact(str(path), artifact_path="data")
    dataset = mlflow.data.from_pandas(
        train, source=str(path), targets="churned", name="churn-train"
    )
    mlflow.log_input(dataset, context="training", tags={"targets": "churned"})
    mlflow.log_metric("train_accuracy", float(clf.score(X, train["churned"])))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=signature,
        registered_model_name=name,
        pip_requirements=["scikit-learn", "pandas"],  # not inferred: that runs the model again
    )
client = MlflowClient()
version = str(info.registered_model_version)
client.set_registered_model_alias(name, alias, version)
print(
    json.dumps(
        {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "version": version,
            "model_uri": info.model_uri,
            "rows": n,
        }
    )
)
