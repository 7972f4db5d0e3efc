"""Helpers of the Ansible tests: run ansible-playbook/ansible-lint from the project's virtualenv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PY_COLORS="0", NO_COLOR="1")
    env.update(extra)
    return env


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env or ansible_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def playbooks() -> list[Path]:
    return [REPO / "site.yml", *sorted((REPO / "playbooks").glob("*.yml"))]


RENDER_DW_IP = "10.0.2.15"
RENDER_OLTP_IP = "10.0.1.20"
RENDER_OLTP_PUBLIC_DNS = "ec2-198-51-100-7.eu-west-1.compute.amazonaws.com"


def render_aws(base: Path, extra: dict | None = None) -> subprocess.CompletedProcess:
    """tests/ansible/render_aws.yml in `base`: the AWS inventory's hosts rendered on this machine.

    A static inventory with the dynamic inventory's groups and the real inventory/group_vars and
    host_vars, cloud-host facts, config paths under base/out/<host>, the state folder base/state
    and, with no SSM here, the deployment CA's key in base/state/secrets (the file backend).
    Run it again on the same `base` to converge again."""
    import json

    import yaml

    inventory = base / "inventory"
    if not inventory.is_dir():
        inventory.mkdir(parents=True)
        for name in ("group_vars", "host_vars"):
            (inventory / name).symlink_to(REPO / "inventory" / name)
        local = {"ansible_connection": "local", "ansible_become": False,
                 "ansible_python_interpreter": "/usr/bin/python3"}
        hosts = {"all": {"children": {
            "oltp": {"hosts": {"oltp-aws": {**local, "render_private_ip": RENDER_OLTP_IP}}},
            "dw": {"hosts": {"dw-aws": {**local, "render_private_ip": RENDER_DW_IP}}},
            "shiny": {"hosts": {"dw-aws": {}}},
        }}}
        (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
        (base / "outputs.json").write_text(json.dumps({
            "raw_bucket": "clickstream-dev-raw-123456789012", "ingest_url": "https://abc.execute-api/clickstream",
            "hosts": {"oltp": {"public_dns": RENDER_OLTP_PUBLIC_DNS, "public_ip": None},
                      "dw": {"instance_id": "i-0abc", "private_ip": RENDER_DW_IP}}}))
        for host in ("oltp-aws", "dw-aws"):
            (base / "out" / host / "conf.d").mkdir(parents=True)
            # pg_createcluster is skipped when the cluster's postgresql.conf exists.
            (base / "out" / host / "postgresql.conf").write_text("#include_dir = 'conf.d'\n")
    out = base / "out"
    settings = {"clickstream_repo_dir": str(REPO), "clickstream_outputs_file": str(base / "outputs.json"),
                "render_dir": str(out), "__postgresql_config_dir": f"{out}/{{{{ inventory_hostname }}}}",
                "tls_ca_backend": "file", "secrets_file_dir": str(base / "state" / "secrets"),
                "postgresql_ssl_root_cert": f"{out}/{{{{ inventory_hostname }}}}/ca.crt", **(extra or {})}
    return run([str(BIN / "ansible-playbook"), "-i", str(inventory), "tests/ansible/render_aws.yml",
                "-e", json.dumps(settings)], env=ansible_env(CLICKSTREAM_STATE_DIR=str(base / "state")))
