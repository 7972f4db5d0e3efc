"""The whole platform as `ansible-playbook site.yml` brings it up on this machine, shared by the
converge tests and the browser tests that use it as a user would.

Two runs of site.yml with the local inventory (two PostgreSQL 15 clusters, moto S3, the ingest
adapter serving the demo storefront, the ETL timer, Shiny), each ending with the verify
playbook, configured as `./scripts/up.sh` configures it: its own state directory, free ports and
cluster names keep it apart from the developer's platform and from the test cluster 15/cstest,
and nothing else is set. `converge_again` runs site.yml once more as a user re-runs up.sh with
more settings in the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ansible.support import BIN, REPO, ansible_env, run
from tests.support.local import free_port


@pytest.fixture(scope="package")
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
    for name in ("CLICKSTREAM_EXTRA_ORIGINS", "CLICKSTREAM_ORIGIN_DIALECTS"):
        env.pop(name, None)
    args = [str(BIN / "ansible-playbook"), "site.yml", "-e", json.dumps(extra)]
    runs = []

    def converge_again(**environment: str) -> subprocess.CompletedProcess:
        return run(args, env={**env, **environment}, timeout=1200)

    try:
        for _ in range(2):
            result = run(args, env=env, timeout=1200)
            runs.append(result)
            if result.returncode != 0:
                break
        yield {"runs": runs, "state": state, "ports": ports, "tag": tag, "env": env,
               "converge_again": converge_again}
    finally:
        subprocess.run([str(BIN / "python"), "scripts/localctl.py", "--state-dir", str(state), "stop", "--all"],
                       cwd=REPO, capture_output=True, check=False, timeout=120)
        for cluster in (f"{tag}_oltp", f"{tag}_dw"):
            subprocess.run(["pg_dropcluster", "--stop", "15", cluster], capture_output=True, check=False)
            Path(f"/usr/local/sbin/clickstream-pg-backup-{cluster}").unlink(missing_ok=True)
