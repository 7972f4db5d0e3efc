"""Ctx.reconcile: every change is recorded; only an apply makes it."""

from __future__ import annotations

import pytest

from toolkit.provision.engine import Change, Ctx


@pytest.mark.parametrize("plan_only", [True, False])
def test_reconcile_records_and_applies_only_outside_a_plan(cfg, plan_only: bool) -> None:
    ctx = Ctx(cfg=cfg, clients=None, plan_only=plan_only)  # type: ignore[arg-type]
    calls: list[str] = []

    def apply() -> str:
        calls.append("applied")
        return "result"

    result = ctx.reconcile("update", "ec2 vpc", "demo-vpc", "enableDnsSupport=true", apply=apply)

    assert ctx.changes == [Change("update", "ec2 vpc", "demo-vpc", "enableDnsSupport=true")]
    assert calls == ([] if plan_only else ["applied"])
    assert result == (None if plan_only else "result")


def test_reconcile_records_before_applying(cfg) -> None:
    ctx = Ctx(cfg=cfg, clients=None)  # type: ignore[arg-type]
    seen: list[int] = []
    ctx.reconcile("delete", "sqs queue", "demo-etl-failures", apply=lambda: seen.append(len(ctx.changes)))
    assert seen == [1]
    assert ctx.changes[0].line() == "- sqs queue demo-etl-failures"
