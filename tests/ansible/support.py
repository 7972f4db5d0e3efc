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
