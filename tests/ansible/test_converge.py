"""`ansible-playbook site.yml` on this machine with the local inventory, twice.

The first run brings the whole platform up (two PostgreSQL 15 clusters, moto S3, the ingest
adapter, the ETL timer, Shiny) and ends with the verify playbook (events in, ETL, rows read
back, dashboard 200); the second run must change nothing and pass verify again. Its own state
directory, free ports and cluster names keep it apart from the developer's platform and from
the test cluster 15/cstest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.ansible.support import BIN, REPO, ansible_env, run
from tests.support.local import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """The last PLAY RECAP line of each host, summed over the run's plays."""
    hosts: dict[str, dict[str, int]] = {}
    for host, ok, changed, unreachable, failed in RECAP.findall(output):
        hosts[host] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable),
                       "failed": int(failed)}
    return hosts


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("creates PostgreSQL clusters: run as root (scripts/test.sh does)")
    for tool in ("pg_createcluster", "R"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (scripts/bootstrap.sh installs it)")
    state = tmp_path_factory.mktemp("ansible-converge")
    tag = f"csans{os.getpid()}"
    ports = {name: free_port() for name in ("s3", "ingest", "oltp", "dw", "shiny")}
    extra = {
        "clickstream_state_dir": str(state),
        "clickstream_s3_port": ports["s3"], "clickstream_ingest_port": ports["ingest"],
        "clickstream_oltp_port": ports["oltp"], "clickstream_dw_port": ports["dw"],
        "clickstream_shiny_port": ports["shiny"],
        "clickstream_oltp_cluster": f"{tag}_oltp", "clickstream_dw_cluster": f"{tag}_dw",
    }
    env = ansible_env(CLICKSTREAM_STATE_DIR=str(state))
    args = [str(BIN / "ansible-playbook"), "site.yml", "-e", json.dumps(extra)]
    runs = []
    try:
        for _ in range(2):
            result = run(args, env=env, timeout=1200)
            runs.append(result)
            if result.returncode != 0:
                break
        yield {"runs": runs, "state": state, "ports": ports, "tag": tag, "env": env}
    finally:
        subprocess.run([str(BIN / "python"), "scripts/localctl.py", "--state-dir", str(state), "stop", "--all"],
                       cwd=REPO, capture_output=True, check=False, timeout=120)
        for cluster in (f"{tag}_oltp", f"{tag}_dw"):
            subprocess.run(["pg_dropcluster", "--stop", "15", cluster], capture_output=True, check=False)
            Path(f"/usr/local/sbin/clickstream-pg-backup-{cluster}").unlink(missing_ok=True)


def test_first_run_converges_and_verifies(platform):
    first = platform["runs"][0]
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-2000:]
    hosts = recap(first.stdout)
    assert set(hosts) == {"localhost", "oltp-local", "dw-local"}
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in hosts.values()), hosts
    assert "Shiny runs as r-process" in first.stdout or "Shiny runs as shiny-server" in first.stdout


def test_second_run_changes_nothing(platform):
    assert len(platform["runs"]) == 2, "the first run failed"
    second = platform["runs"][1]
    assert second.returncode == 0, second.stdout[-8000:] + second.stderr[-2000:]
    hosts = recap(second.stdout)
    changed = {host: h["changed"] for host, h in hosts.items()}
    assert changed == {"localhost": 0, "oltp-local": 0, "dw-local": 0}, second.stdout[-8000:]


def test_services_are_supervised_and_log_to_known_files(platform):
    status = subprocess.run([str(BIN / "python"), "scripts/localctl.py", "--state-dir", str(platform["state"]),
                             "status", "--json"], cwd=REPO, capture_output=True, text=True, check=False)
    rows = {row["name"]: row for row in json.loads(status.stdout)}
    assert set(rows) == {"s3", "ingest", "etl-timer", "shiny", "backup-oltp", "backup-dw"}
    for row in rows.values():
        assert row["state"] == "running", row
        assert row["spec_current"] is True, row
        assert Path(row["log"]).is_file()


def test_clusters_use_scram_and_tls(platform):
    for cluster in (f"{platform['tag']}_oltp", f"{platform['tag']}_dw"):
        conf = Path(f"/etc/postgresql/15/{cluster}/conf.d/50-clickstream.conf").read_text()
        assert "password_encryption = scram-sha-256" in conf
        assert "ssl = on" in conf
        assert "listen_addresses = '127.0.0.1'" in conf
        hba = Path(f"/etc/postgresql/15/{cluster}/pg_hba.conf").read_text()
        network = [line.split() for line in hba.splitlines() if line.startswith("host")]
        assert network and all(r[0] == "hostssl" and r[-1] == "scram-sha-256" for r in network), network
        online = run(["pg_lsclusters", "-h"]).stdout
        assert any(line.split()[1] == cluster and line.split()[3] == "online" for line in online.splitlines())


def test_secrets_are_private_files_and_never_printed(platform):
    secrets = sorted((platform["state"] / "secrets").iterdir())
    assert {p.name for p in secrets} == {"oltp__owner_password", "oltp__app_password", "dw__owner_password",
                                         "dw__etl_password", "dw__reader_password"}
    output = "".join(r.stdout + r.stderr for r in platform["runs"])
    for path in secrets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().strip() not in output
    renviron = platform["state"] / "shiny" / ".Renviron"
    assert stat.S_IMODE(renviron.stat().st_mode) == 0o600
    env_file = platform["state"] / "outputs" / "storefront.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text().startswith("DATABASE_URL=postgresql://storefront_app:")


def test_storefront_app_login_has_data_privileges_only(platform):
    import pg8000.native

    url = (platform["state"] / "outputs" / "storefront.env").read_text().strip().split("=", 1)[1]
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = pg8000.native.Connection("storefront_app", host="127.0.0.1", port=platform["ports"]["oltp"],
                                    database="storefront", password=unquote(password), ssl_context=context)
    try:
        assert conn.run("SELECT count(*) FROM products")[0][0] >= 40
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            conn.run("CREATE TABLE intruder (id int)")
    finally:
        conn.close()
