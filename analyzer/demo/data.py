"""The demo's two data files, read once: ``organization.yaml`` and ``traffic.yaml``.

Both are plain YAML (``safe_load``) in which ``${NAME}`` stands for a value of
``organization.yaml``'s ``names``; names may use names defined before them. Everything the
demo knows about the organization and its traffic is in these files, so adding a policy, a
caller or a denial scenario is a data change.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from analyzer.errors import AnalyzerError

_NAME = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


class DemoDataError(AnalyzerError):
    """A demo data file refers to a name it does not define, or lacks a section."""


def _substitute(text: str, names: dict[str, str], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        try:
            return names[match.group(1)]
        except KeyError:
            raise DemoDataError(f"{where}: unknown name ${{{match.group(1)}}}") from None

    return _NAME.sub(value, text)


def _resolve(value: Any, names: dict[str, str], where: str) -> Any:
    if isinstance(value, str):
        return _substitute(value, names, where)
    if isinstance(value, dict):
        return {_resolve(key, names, where): _resolve(item, names, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, names, where) for item in value]
    return value


def _read(file_name: str) -> dict[str, Any]:
    text = resources.files("analyzer.demo").joinpath(file_name).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise DemoDataError(f"{file_name}: not a mapping")
    return loaded


@lru_cache(maxsize=1)
def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    organization = _read("organization.yaml")
    names: dict[str, str] = {}
    for key, value in organization.get("names", {}).items():
        names[key] = _substitute(str(value), names, f"organization.yaml: names.{key}")
    resolved_organization = _resolve(organization, names, "organization.yaml")
    resolved_traffic = _resolve(_read("traffic.yaml"), names, "traffic.yaml")
    return resolved_organization, resolved_traffic


def organization_data() -> dict[str, Any]:
    """``organization.yaml`` with its names resolved. Callers build new values from it and
    never change it (it is read once per process)."""
    return _documents()[0]


def traffic_data() -> dict[str, Any]:
    """``traffic.yaml`` with ``organization.yaml``'s names resolved (read once per process)."""
    return _documents()[1]
