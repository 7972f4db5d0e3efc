"""The no-internet strategy end to end on this machine: stage a package closure in S3 (a moto
server), fetch it back through a presigned URL, unpack, and find an apt repository that holds
every package of the closure. Needs Debian's archive (apt-get download)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import tarfile

import pytest

from tests.ansible.support import BIN, REPO, ansible_env, run
from tests.support import local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_server():
    import boto3

    with local.moto_server() as url:
        boto3.client("s3", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="local",
                     aws_secret_access_key="local").create_bucket(
            Bucket="offline-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield url


def stage(tmp_path, s3_url):
    extra = {
        "clickstream_repo_dir": str(REPO),
        "offline_packages_packages": ["hello"],
        "offline_packages_bucket": "offline-test",
        "offline_packages_region": "eu-west-1",
        "offline_packages_endpoint_url": s3_url,
        "offline_packages_build_dir": str(tmp_path / "build"),
        "offline_packages_cache_dir": str(tmp_path / "cache"),
        "offline_packages_repo_dir": str(tmp_path / "repo"),
        "offline_packages_builder_tools": [],
        "offline_packages_update_cache": False,
        "offline_packages_configure_apt": False,
    }
    env = ansible_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="eu-west-1")
    return run([str(BIN / "ansible-playbook"), "tests/ansible/offline_packages.yml", "-e", json.dumps(extra)],
               env=env)


def test_stage_fetch_and_unpack_a_package_closure(tmp_path, s3_server):
    if os.geteuid() != 0:
        pytest.skip("apt-get download and the role's files expect root")
    if subprocess.run(["apt-cache", "show", "hello"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no Debian package index here (apt-get update)")
    first = stage(tmp_path, s3_server)
    if "Could not resolve" in first.stdout + first.stderr or "Failed to fetch" in first.stdout + first.stderr:
        pytest.skip("Debian's archive is not reachable")
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]

    repo = tmp_path / "repo"
    debs = sorted(p.name for p in repo.glob("*.deb"))
    assert any(name.startswith("hello_") for name in debs), debs
    assert any(name.startswith("libc6_") for name in debs), "the closure misses hello's dependency libc6"
    index = gzip.decompress((repo / "Packages.gz").read_bytes()).decode()
    packages = {line.split(": ", 1)[1] for line in index.splitlines() if line.startswith("Package: ")}
    assert {"hello", "libc6"} <= packages
    assert len(packages) == len(debs)
    manifest = (repo / "manifest.txt").read_text().split()
    assert manifest, "empty manifest"
    with tarfile.open(tmp_path / "build" / "repo.tar") as archive:
        assert all(m.mtime == 0 and m.uid == 0 for m in archive.getmembers())

    # Same versions: nothing downloaded, uploaded or unpacked again.
    second = stage(tmp_path, s3_server)
    assert second.returncode == 0, second.stdout[-6000:]
    assert "changed=0" in second.stdout.split("PLAY RECAP")[-1], second.stdout[-9000:]
