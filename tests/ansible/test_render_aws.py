"""The AWS inventory's server configuration, rendered by the real roles on this machine.

No AWS account: a static inventory with the dynamic inventory's groups (oltp, dw, shiny) and the
real inventory/group_vars, facts of a Debian 12 EC2 host, and the config paths redirected to a
scratch folder. Checks pg_hba entries, TLS and bind addresses against config/example.yml
(tests/ansible/test_tls.py checks the certificates' issuance and renewal).
"""

from __future__ import annotations

import ipaddress
import os
import re

import pytest
import yaml

from tests.ansible.support import RENDER_DW_IP, RENDER_OLTP_IP, REPO, render_aws

DW_IP = RENDER_DW_IP
OLTP_IP = RENDER_OLTP_IP


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the role sets file owners (postgres): run as root")
    base = tmp_path_factory.mktemp("aws-render")
    result = render_aws(base)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return base / "out"


def hba(path):
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split())
    return rows


def settings(path):
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(\w+)\s*=\s*'?([^'#]*)'?", line)
        if match:
            found[match[1]] = match[2].strip()
    return found


def example_config():
    return yaml.safe_load((REPO / "config" / "example.yml").read_text())


def test_oltp_accepts_only_tls_from_the_client_cidrs(rendered):
    rows = hba(rendered / "oltp-aws" / "pg_hba.conf")
    network = [r for r in rows if r[0] != "local"]
    assert network, "no network entries"
    assert all(r[0] == "hostssl" for r in network), network
    assert all(r[-1] == "scram-sha-256" for r in network), network
    addresses = {r[3] for r in network}
    assert addresses == {"127.0.0.1/32", *example_config()["access"]["oltp_client_cidrs"]}
    remote = [r for r in network if r[3] != "127.0.0.1/32"]
    assert {(r[1], r[2]) for r in remote} == {("storefront", "storefront_app")}
    assert not any(ipaddress.ip_network(r[3]).prefixlen == 0 for r in network)
    assert [r for r in rows if r[0] == "local"] == [["local", "all", "postgres", "peer", "map=postgresql_admin"]]


def test_dw_accepts_only_the_etl_subnet_and_local_connections(rendered):
    rows = hba(rendered / "dw-aws" / "pg_hba.conf")
    network = [r for r in rows if r[0] != "local"]
    assert all(r[0] == "hostssl" and r[-1] == "scram-sha-256" for r in network), network
    cfg = example_config()
    remote = [r for r in network if not ipaddress.ip_network(r[3]).is_loopback]
    assert remote == [["hostssl", cfg["etl"]["dw_database"], cfg["etl"]["dw_user"],
                       cfg["network"]["private_subnet_2_cidr"], "scram-sha-256"]]
    assert {r[3] for r in network} == {"127.0.0.1/32", cfg["network"]["private_subnet_2_cidr"]}


@pytest.mark.parametrize(("host", "listen"), [("oltp-aws", "*"), ("dw-aws", f"localhost,{DW_IP}")])
def test_server_settings(rendered, host, listen):
    conf = settings(rendered / host / "conf.d" / "50-clickstream.conf")
    assert conf["listen_addresses"] == listen
    assert conf["ssl"] == "on"
    assert conf["password_encryption"] == "scram-sha-256"
    assert conf["ssl_min_protocol_version"] == "TLSv1.2"
    assert conf["ssl_cert_file"] == f"{rendered}/{host}/tls/server.crt"
    assert (rendered / host / "tls" / "server.crt").is_file()
    assert (rendered / host / "tls" / "server.key").stat().st_mode & 0o077 == 0
    # Memory from the host's facts (3891 MB): a quarter for shared buffers.
    assert conf["shared_buffers"] == "972MB"


def test_generated_certificate_names_the_host(rendered):
    import subprocess

    text = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName", "-in",
                           str(rendered / "oltp-aws" / "tls" / "server.crt")],
                          capture_output=True, text=True, check=True).stdout
    assert "ec2-198-51-100-7.eu-west-1.compute.amazonaws.com" in text


def test_shiny_server_binds_to_loopback_only(rendered):
    text = (rendered / "dw-aws" / "shiny-server.conf").read_text()
    assert re.search(r"^\s*listen 3838 127\.0\.0\.1;", text, re.M), text
    assert not (rendered / "oltp-aws" / "shiny-server.conf").exists()
