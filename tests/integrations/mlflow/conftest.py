"""The drivers are scripts run by the MLflow venv's python (they import mlflow, which the
project's venv lacks): pytest neither collects them nor imports them for doctests."""

collect_ignore = ["drivers"]
