"""Actions that start pipelines (Airflow, Argo Workflows, GitHub Actions, Kubeflow Pipelines),
against a local fake of each API (:mod:`fake_pipelines`), through the real action runner: the
request each API documents, the incident as parameters with the window to retrain on, a
re-delivered notification that does not start a second run, refusals reported, credentials
from the environment, dry runs and clear configuration errors."""

from __future__ import annotations

import pytest

from mlwarden.errors import ConfigError
from mlwarden.incidents.actions import Action, ActionRunner, MemoryAuditLog, RunStatus

from .fake_pipelines import TOKEN, fake_pipelines
from .localservers import LOCAL, note

ON = {"kinds": ["drift"]}


def _pipelines(url: str) -> dict[str, dict[str, object]]:
    return {
        "airflow": {"kind": "airflow", "url": url, "dag_id": "retrain",
                    "username": "airflow", "password": "${MLWARDEN_TEST_AIRFLOW_PASSWORD}"},
        "argo": {"kind": "argo", "url": url, "namespace": "ml", "template": "retrain",
                 "token": "${MLWARDEN_TEST_PIPELINE_TOKEN}"},
        "github": {"kind": "github", "url": url, "repository": "acme/models",
                   "workflow": "retrain.yml", "ref": "main",
                   "token": "${MLWARDEN_TEST_PIPELINE_TOKEN}"},
        "kubeflow": {"kind": "kubeflow", "url": url, "pipeline_id": "p-123",
                     "pipeline_version_id": "v-9", "token": "${MLWARDEN_TEST_PIPELINE_TOKEN}"},
    }  # fmt: skip


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWARDEN_TEST_AIRFLOW_PASSWORD", "airflow")
    monkeypatch.setenv("MLWARDEN_TEST_PIPELINE_TOKEN", TOKEN)


def test_each_pipeline_is_started_once_with_the_incident() -> None:
    n = note()
    with fake_pipelines() as fake:
        actions = [
            Action.from_dict(
                {"name": kind, "on": ON, "pipeline": p, "dry_run": False, "max_runs": None}
            )  # fmt: skip
            for kind, p in _pipelines(fake.url).items()
        ]
        runner = ActionRunner(actions, MemoryAuditLog(), policy=LOCAL)
        first = runner.run(n)
        again = runner.run(n)  # the same notification delivered again
    assert [(r.action, r.status) for r in first] == [
        (k, RunStatus.DONE) for k in ("airflow", "argo", "github", "kubeflow")
    ], [r.detail for r in first]
    assert [r[1] for r in fake.refused] == [409, 409]  # the second delivery's Airflow and Argo
    started = {s["kind"]: s for s in fake.started[:4]}
    payload = n.payload
    for kind, s in started.items():
        params = s["parameters"]
        assert params["incident_id"] == str(n.incident_id), kind
        assert params["model"] == n.model and params["signature"] == payload["signature"]
        onset = (payload.get("causes") or {}).get("onset") or payload["first_window"]
        assert params["retrain_from"] == str(onset), kind
        assert params["retrain_to"] == str(payload["last_window"]), kind
        assert all(isinstance(v, str) for v in params.values())
    assert n.key == "default/credit_risk/12/0/opened"  # as a valid run name:
    run_name = "mlwarden-default-credit-risk-12-0-opened"
    assert started["airflow"]["id"] == started["kubeflow"]["id"] == run_name
    assert started["argo"]["labels"] == f"mlwarden.io/incident={n.incident_id}"
    assert first[0].detail.startswith("airflow: started DAG run 'mlwarden-")
    # Airflow and Argo refuse the duplicate name: read as started already, not failed
    by = {r.action: r for r in again}
    assert (
        by["airflow"].status is RunStatus.DONE
        and "started already (HTTP 409)" in by["airflow"].detail
    )
    assert by["argo"].status is RunStatus.DONE and "started already" in by["argo"].detail
    assert sum(s["kind"] in ("airflow", "argo") for s in fake.started) == 2


def test_the_window_to_retrain_on_starts_at_the_onset_found() -> None:
    with fake_pipelines() as fake:
        p = _pipelines(fake.url)["kubeflow"]
        action = Action("k", on=ON, pipeline=p, dry_run=False)
        n = note(causes={"onset": "2026-02-26T00:00:00+00:00", "features": []})
        (run,) = ActionRunner([action], MemoryAuditLog(), policy=LOCAL).run(n)
    assert run.status is RunStatus.DONE, run.detail
    assert fake.started[0]["parameters"]["retrain_from"] == "2026-02-26T00:00:00+00:00"


def test_undeclared_parameters_fail_and_a_chosen_subset_goes_through() -> None:
    with fake_pipelines() as fake:
        fake.declared = {"incident_id", "model", "retrain_from", "retrain_to"}
        base = _pipelines(fake.url)["github"]
        every = Action.from_dict({"name": "all", "on": ON, "pipeline": base, "dry_run": False})
        subset = Action.from_dict({
            "name": "subset", "on": ON, "dry_run": False,
            "pipeline": {**base, "parameters": ["incident_id", "model", "retrain_from", "retrain_to"]},
        })  # fmt: skip
        runs = ActionRunner([every, subset], MemoryAuditLog(), policy=LOCAL).run(note())
    assert runs[0].status is RunStatus.FAILED and runs[0].detail.startswith("github: HTTP 422")
    assert runs[1].status is RunStatus.DONE, runs[1].detail
    assert set(fake.started[0]["parameters"]) == fake.declared


def test_bad_credentials_and_dry_runs() -> None:
    with fake_pipelines() as fake:
        wrong = {**_pipelines(fake.url)["kubeflow"], "token": "nope"}
        live = Action("live", on=ON, pipeline=wrong, dry_run=False)
        dry = Action("dry", on=ON, pipeline=_pipelines(fake.url)["airflow"])
        runs = ActionRunner([live, dry], MemoryAuditLog(), policy=LOCAL).run(note())
    assert runs[0].status is RunStatus.FAILED and "HTTP 401" in runs[0].detail
    assert runs[1].status is RunStatus.DRY_RUN
    assert (
        runs[1].detail
        == "dry run: would start the airflow DAG 'retrain' with the incident as its parameters"
    )
    assert len(fake.started) == 0


def test_a_private_destination_needs_the_operators_allowance() -> None:
    with fake_pipelines() as fake:
        action = Action("a", on=ON, pipeline=_pipelines(fake.url)["argo"], dry_run=False)
        (run,) = ActionRunner([action], MemoryAuditLog()).run(note())  # default policy
    assert run.status is RunStatus.FAILED and fake.started == []


BAD = "parameter of action 'a' must"


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ({"kind": "jenkins", "url": "https://ci"},
         f"'pipeline.kind' {BAD} be one of airflow, argo, github, kubeflow"),
        ({"kind": "airflow", "url": "https://af"}, f"'pipeline.dag_id' {BAD} be a non-empty string"),
        ({"kind": "airflow", "url": "af.example", "dag_id": "d"},
         f"'pipeline.url' {BAD} be an http:// or https:// URL"),
        ({"kind": "github", "repository": "models", "workflow": "w.yml", "ref": "main"},
         f"'pipeline.repository' {BAD} look like 'owner/repo'"),
        ({"kind": "argo", "url": "https://argo", "namespace": "n", "template": "t", "dag_id": "d"},
         f"'pipeline.dag_id' {BAD} not be set: a argo pipeline takes namespace, template"),
        ({"kind": "kubeflow", "url": "https://kfp", "pipeline_id": "p", "parameters": ["secret"]},
         f"'pipeline.parameters' {BAD} be a list of incident_id"),
        ({"kind": "airflow", "url": "https://af", "dag_id": "d", "username": "u"},
         f"'pipeline.username' {BAD} come with 'password'"),
    ],
)  # fmt: skip
def test_bad_pipeline_configuration_is_refused_clearly(
    pipeline: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        Action.from_dict({"name": "a", "on": ON, "pipeline": pipeline})
    assert message in str(exc.value), str(exc.value)
