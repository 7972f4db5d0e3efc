from __future__ import annotations

import os
import random
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from toolkit.provision import config, lambda_zips, run
from toolkit.provision.aws import Clients, Retrier
from toolkit.provision.engine import Ctx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.yml"
# AWS managed policies (AmazonSSMManagedInstanceCore) must exist for attach_role_policy.
MOTO_CONFIG = {"iam": {"load_aws_managed_policies": True}}


def no_sleep(_seconds: float) -> None:
    pass


def fast_retrier() -> Retrier:
    return Retrier(sleep=no_sleep)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> dict[str, bytes]:
    """The real zips, built from lambdas/ and the pinned wheels (cached in build/wheels)."""
    out = tmp_path_factory.mktemp("lambdas")
    built = {}
    for name, spec in lambda_zips.FUNCTIONS.items():
        path, _ = lambda_zips.build_function(spec, output_dir=out)
        built[name] = path.read_bytes()
    return built


@pytest.fixture(scope="session")
def cfg() -> config.Config:
    return config.load(EXAMPLE)


@pytest.fixture
def aws():
    """A fresh moto account per test; in-process, so AWS_ENDPOINT_URL must not redirect the clients."""
    saved = os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws(config=MOTO_CONFIG):
            yield
    finally:
        if saved is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved


def clients(cfg: config.Config) -> Clients:
    return Clients(cfg.region, emulator=True)


@pytest.fixture(scope="module")
def deployed(artifacts, cfg):
    """One apply of the example configuration shared by a module's read-only assertions."""
    saved = os.environ.pop("AWS_ENDPOINT_URL", None)
    mock = mock_aws(config=MOTO_CONFIG)
    mock.start()
    try:
        c = clients(cfg)
        result = run.apply(cfg, c, artifacts, retrier=fast_retrier())
        yield c, result
    finally:
        mock.stop()
        if saved is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved


def stubbed_ctx(cfg: config.Config, service: str, account: str = "123456789012") -> tuple[Ctx, Stubber]:
    """A step context whose `service` client answers from a botocore Stubber (AWS faults)."""
    session = boto3.session.Session(region_name=cfg.region)
    c = Clients(cfg.region, session=session)
    c._account_id = account
    client = session.client(service, region_name=cfg.region)
    c.set(service, client)
    stub = Stubber(client)
    stub.activate()
    return Ctx(cfg=cfg, clients=c, retrier=Retrier(sleep=lambda _s: None, rng=random.Random(1))), stub
