"""`ansible-playbook site.yml` on this machine with the local inventory, twice (the
`platform` fixture in conftest.py): the first run brings the whole platform up and ends with
the verify playbook; the second run must change nothing and pass verify again."""

from __future__ import annotations

import json
import re
import ssl
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.ansible.support import BIN, REPO, run

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """The last PLAY RECAP line of each host, summed over the run's plays."""
    hosts: dict[str, dict[str, int]] = {}
    for host, ok, changed, unreachable, failed in RECAP.findall(output):
        hosts[host] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable),
                       "failed": int(failed)}
    return hosts


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
                                         "dw__etl_password", "dw__reader_password", "tls__ca_key"}
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
    # verify-full, with the CA file the URL names (sslrootcert).
    context = ssl.create_default_context(cafile=unquote(url.split("sslrootcert=", 1)[1].split("&", 1)[0]))
    conn = pg8000.native.Connection("storefront_app", host="127.0.0.1", port=platform["ports"]["oltp"],
                                    database="storefront", password=unquote(password), ssl_context=context)
    try:
        assert conn.run("SELECT count(*) FROM products")[0][0] >= 40
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            conn.run("CREATE TABLE intruder (id int)")
    finally:
        conn.close()
