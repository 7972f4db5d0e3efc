"""ansible-lint (production profile) and --syntax-check of every playbook."""

from __future__ import annotations

import pytest

from tests.ansible.support import BIN, REPO, playbooks, run


def test_ansible_lint_production_profile_passes():
    result = run([str(BIN / "ansible-lint"), "--profile", "production", "--offline"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Profile 'production' was required, and it passed" in output


@pytest.mark.parametrize("playbook", playbooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_playbook_syntax(playbook):
    result = run([str(BIN / "ansible-playbook"), "--syntax-check", str(playbook)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_site_imports_every_phase_in_order():
    import yaml

    site = yaml.safe_load((REPO / "site.yml").read_text())
    imported = [play["ansible.builtin.import_playbook"] for play in site]
    assert imported == [f"playbooks/{name}.yml" for name in ("provision", "oltp", "dw", "shiny", "lambdas", "verify")]


def test_every_role_has_the_standard_layout():
    roles = sorted(p for p in (REPO / "roles").iterdir() if p.is_dir())
    assert {r.name for r in roles} >= {"postgresql", "secrets", "oltp", "dw", "shiny", "lambdas", "local_s3",
                                      "offline_packages"}
    for role in roles:
        for part in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "tasks/main.yml"):
            assert (role / part).is_file(), f"{role.name}: missing {part}"
        import yaml

        for name in yaml.safe_load((role / "defaults/main.yml").read_text()) or {}:
            assert name.startswith(f"{role.name}_"), f"{role.name}: default {name} is not role-prefixed"
