"""deployments/prefect.yaml must point at the real flow with parameters it accepts."""

import inspect
from datetime import date
from pathlib import Path

import yaml
from prefect.client.schemas.schedules import CronSchedule

from analyzer.pipeline.settings import window
from flows.nightly import nightly

ROOT = Path(__file__).resolve().parents[2]


def test_deployment_matches_the_flow():
    config = yaml.safe_load((ROOT / "deployments/prefect.yaml").read_text())
    [deployment] = config["deployments"]
    path, _, name = deployment["entrypoint"].partition(":")
    assert (ROOT / path).is_file() and name == nightly.fn.__name__
    accepted = set(inspect.signature(nightly.fn).parameters)
    assert set(deployment["parameters"]) <= accepted
    required = {p for p, v in inspect.signature(nightly.fn).parameters.items()
                if v.default is inspect.Parameter.empty}
    assert required <= set(deployment["parameters"])
    [schedule] = deployment["schedules"]
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # validates
    assert deployment["work_pool"]["name"]


def test_last_days_means_the_days_before_today():
    today = date(2026, 11, 25)
    assert window(None, None, 1, today) == (date(2026, 11, 24), today)
    assert window(date(2026, 1, 1), None, 1, today) == (date(2026, 1, 1), None)
    assert window(None, None, None, today) == (None, None)
