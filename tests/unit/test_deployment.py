"""deployments/prefect.yaml must point at the real flow with parameters it accepts."""

import inspect
from datetime import date
from pathlib import Path

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule

from analyzer.pipeline.settings import window
from flows.nightly import nightly

ROOT = Path(__file__).resolve().parents[2]


def test_deployments_match_the_flow():
    config = yaml.safe_load((ROOT / "deployments/prefect.yaml").read_text())
    deployments = {deployment["name"]: deployment for deployment in config["deployments"]}
    assert set(deployments) == {"nightly", "nightly-dask"}
    for deployment in deployments.values():
        _check(deployment)
    # Exactly one schedule is active: the process pool's, the Dask one is opt-in.
    assert [d["name"] for d in deployments.values() if d["schedules"][0]["active"]] == ["nightly"]


def test_the_dask_deployment_runs_the_same_flow_on_a_dask_runner(monkeypatch):
    import importlib

    from prefect_dask import DaskTaskRunner

    monkeypatch.setenv("ACCESS_UNDENIED_DASK_ADDRESS", "tls://scheduler.example:8786")
    module = importlib.reload(importlib.import_module("flows.dask_nightly"))
    flow = module.nightly_on_dask
    assert flow.fn is nightly.fn
    assert isinstance(flow.task_runner, DaskTaskRunner)
    assert flow.task_runner.address == "tls://scheduler.example:8786"


def _check(deployment: dict) -> None:
    import importlib

    path, _, name = deployment["entrypoint"].partition(":")
    assert (ROOT / path).is_file()
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert getattr(module, name).fn is nightly.fn
    accepted = set(inspect.signature(nightly.fn).parameters)
    assert set(deployment["parameters"]) <= accepted
    required = {
        p for p, v in inspect.signature(nightly.fn).parameters.items() if v.default is inspect.Parameter.empty
    }
    assert required <= set(deployment["parameters"])
    [schedule] = deployment["schedules"]
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # validates
    assert deployment["work_pool"]["name"]
    # One night at a time per `out` (docs/nightly-pipeline.md): a late night is waited for.
    limit = ConcurrencyLimitConfig(**deployment["concurrency_limit"])
    assert (limit.limit, limit.collision_strategy) == (1, ConcurrencyLimitStrategy.ENQUEUE)


def test_last_days_means_the_days_before_today():
    today = date(2026, 11, 25)
    assert window(None, None, 1, today) == (date(2026, 11, 24), today)
    assert window(date(2026, 1, 1), None, 1, today) == (date(2026, 1, 1), None)
    assert window(None, None, None, today) == (None, None)


def test_analysis_runs_in_one_thread_unless_told(tmp_path, monkeypatch):
    """Explaining groups is CPU-bound Python: threads contend for the interpreter lock, so
    the deployment's flow and `run` without --workers analyse in one thread, while a
    process pool or a local Dask cluster still gets several workers."""
    from click.testing import CliRunner
    from prefect.task_runners import ThreadPoolTaskRunner

    from analyzer.cli import main
    from flows import run_command

    assert isinstance(nightly.task_runner, ThreadPoolTaskRunner)
    assert nightly.task_runner._max_workers == 1
    asked = []
    monkeypatch.setattr(run_command, "run_pipeline", lambda **kwargs: asked.append(kwargs) or None)
    monkeypatch.setattr(run_command, "print_summary", lambda summary: None)
    logs = ROOT / "tests/data/analyze"
    for runner in ("threads", "processes"):
        paths = ["--logs", str(logs), "--snapshot", str(logs / "snapshot.json"), "--out", str(tmp_path)]
        result = CliRunner().invoke(main, ["run", *paths, "--task-runner", runner])
        assert result.exit_code == 0, result.output
    chosen = [(kwargs["task_runner"], kwargs["workers"]) for kwargs in asked]
    assert chosen == [("threads", 1), ("processes", 4)]
