"""The secrets role: generated once, kept in 0600 files (local) or SSM SecureStrings (AWS, here
a moto server), the same value on every later run, and never printed."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.ansible.support import BIN, ansible_env, run
from tests.support import local


def read(path) -> str:
    with open(path) as handle:
        return handle.read().strip()


def play(tmp_path, extra, env=None):
    report = tmp_path / "report.json"
    result = run([str(BIN / "ansible-playbook"), "tests/ansible/secrets.yml", "-v",
                  "-e", json.dumps({**extra, "report_file": str(report)})], env=env or ansible_env())
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result, json.loads(report.read_text())


def test_file_backend(tmp_path):
    folder = tmp_path / "secrets"
    extra = {"secrets_backend": "file", "secrets_file_dir": str(folder)}
    first, report = play(tmp_path, extra)
    files = report["files"]
    assert files == {"dw/etl_password": f"{folder}/dw__etl_password", "oltp_app": f"{folder}/oltp_app"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    values = {}
    for name, path in files.items():
        text = read(path)
        assert len(text) == 32 and text.isalnum()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert text not in first.stdout + first.stderr
        values[name] = text
    _, again = play(tmp_path, extra)
    assert again == report
    assert {n: read(p) for n, p in files.items()} == values


@pytest.fixture
def ssm_server():
    with local.moto_server() as url:
        yield url


def test_ssm_backend(tmp_path, ssm_server):
    import boto3

    env = ansible_env(AWS_ENDPOINT_URL=ssm_server, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="eu-west-1")
    host_dir = tmp_path / "host"
    extra = {"secrets_backend": "ssm", "secrets_ssm_prefix": "/clickstream/test", "secrets_ssm_region": "eu-west-1",
             "secrets_host_dir": str(host_dir)}
    ssm = boto3.client("ssm", endpoint_url=ssm_server, region_name="eu-west-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    # Provisioning created the ETL's parameter already: the role must use it, not replace it.
    ssm.put_parameter(Name="/clickstream/test/dw/etl_password", Value="from-provisioning", Type="SecureString")
    first, report = play(tmp_path, extra, env)
    stored = ssm.get_parameter(Name="/clickstream/test/oltp_app", WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString" and len(stored["Value"]) == 32
    assert read(report["files"]["oltp_app"]) == stored["Value"]
    assert read(report["files"]["dw/etl_password"]) == "from-provisioning"
    for path in report["files"].values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(host_dir.stat().st_mode) == 0o700
    assert stored["Value"] not in first.stdout + first.stderr
    _, again = play(tmp_path, extra, env)
    assert again == report
    assert ssm.get_parameter(Name="/clickstream/test/oltp_app", WithDecryption=True)["Parameter"]["Value"] == \
        stored["Value"]
