"""scripts/provision.py end to end against a real moto server on a free loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.provision.conftest import EXAMPLE, ROOT
from tests.support import local

SCRIPT = ROOT / "scripts" / "provision.py"


@pytest.fixture
def moto_server(tmp_path):
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    with local.moto_server(log=tmp_path / "moto.log", env=env) as url:
        yield url


def provision(url: str, *args: str, config=EXAMPLE) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "eu-west-1", "COLUMNS": "200"}
    env.pop("AWS_PROFILE", None)
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--config", str(config)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def test_plan_apply_apply_outputs_destroy_against_moto_server(moto_server):
    plan = provision(moto_server, "plan")
    assert plan.returncode == 0, plan.stderr
    assert f"plan clickstream-dev at {moto_server}" in plan.stderr
    assert "+ ec2 vpc clickstream-dev-vpc (10.0.0.0/16)" in plan.stderr
    assert plan.stdout.startswith("plan: ") and " to create" in plan.stdout

    apply = provision(moto_server, "apply")
    assert apply.returncode == 0, apply.stderr
    assert "+ lambda function clickstream-dev-etl" in apply.stderr
    assert apply.stdout.startswith("apply: ") and " created" in apply.stdout
    again = provision(moto_server, "apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("apply: no changes")
    assert "+ " not in again.stderr and "~ " not in again.stderr

    outputs = provision(moto_server, "outputs")
    assert outputs.returncode == 0, outputs.stderr
    data = json.loads(outputs.stdout)
    assert data["complete"] is True
    assert data["ingest_url"].endswith("/clickstream")
    assert data["hosts"]["dw"]["private_ip"].startswith("10.0.2.")
    assert data["raw_bucket"].startswith("clickstream-dev-raw-")
    assert data["ssm_transfer_bucket"].startswith("clickstream-dev-ssm-")
    assert "postgresql://<user>:<password>@" in data["storefront_database_url_template"]

    refused = provision(moto_server, "destroy")  # no terminal, no --yes
    assert refused.returncode == 1 and "refusing without --yes" in refused.stderr
    destroy = provision(moto_server, "destroy", "--yes", "--delete-data")
    assert destroy.returncode == 0, destroy.stderr
    assert "- ec2 vpc" in destroy.stderr and "- s3 bucket" in destroy.stderr
    after = json.loads(provision(moto_server, "outputs").stdout)
    assert after["vpc_id"] is None and after["complete"] is False


def test_invalid_configuration_names_the_field(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(EXAMPLE.read_text().replace("oltp_client_cidrs: [198.51.100.0/24]",
                                               "oltp_client_cidrs: [0.0.0.0/0]"))
    result = provision("http://127.0.0.1:9", "plan", config=bad)  # refused before any call
    assert result.returncode == 2
    assert "access.oltp_client_cidrs[0]: 0.0.0.0/0 would open PostgreSQL to the internet" in result.stderr


def test_progress_display_shows_steps_and_changes_on_a_terminal():
    import io

    from rich.console import Console

    from toolkit.provision.cli import RichReporter
    from toolkit.provision.engine import Change

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with RichReporter(console, "apply") as reporter:
        reporter.step("VPC", 1, 19)
        reporter.change(Change("create", "ec2 vpc", "clickstream-dev-vpc", "10.0.0.0/16"))
        reporter.step("security groups", 5, 19)
        reporter.progress.refresh()
        reporter.note("waiting for 1 Lambda network interface(s) to be released")
    text = out.getvalue()
    assert "+ ec2 vpc clickstream-dev-vpc (10.0.0.0/16)" in text
    assert "apply: security groups" in text and "4/19" in text
    assert "note: waiting for 1 Lambda network interface(s) to be released" in text
