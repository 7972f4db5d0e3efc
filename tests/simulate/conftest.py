from __future__ import annotations

from datetime import UTC, datetime

import pytest

from toolkit.simulate.model import Batch, Planner, SessionPlan, TrafficConfig

END = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def config(**overrides) -> TrafficConfig:
    values = {"seed": 11, "end": END, "days": 3.0, "sessions_per_day": 500.0}
    values.update(overrides)
    return TrafficConfig(**values)


@pytest.fixture(scope="session")
def plan() -> tuple[TrafficConfig, list[Batch]]:
    """About three days of default traffic, batched as the tracker would send it."""
    cfg = config()
    return cfg, list(Planner(cfg).batches())


@pytest.fixture(scope="session")
def sessions() -> list[SessionPlan]:
    return list(Planner(config()).sessions())
