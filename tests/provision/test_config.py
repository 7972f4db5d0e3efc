"""One YAML per environment: defaults, validation messages that name the field, warnings."""

from __future__ import annotations

import pytest
import yaml

from tests.provision.conftest import EXAMPLE
from toolkit.provision import config
from toolkit.provision.config import ConfigError


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_example_is_the_seed_architecture():
    cfg = config.load(EXAMPLE)
    assert (cfg.network.vpc_cidr, cfg.network.public_subnet_cidr, cfg.network.private_subnet_1_cidr,
            cfg.network.private_subnet_2_cidr) == ("10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24")
    assert cfg.network.ssm_interface_endpoints is True
    assert cfg.etl.schedule == "cron(0/30 * * * ? *)"
    assert cfg.hosts.ami_ssm_parameter == "/aws/service/debian/release/12/latest/amd64"
    assert cfg.warnings == ()
    assert "password" not in EXAMPLE.read_text().lower().replace("password is", "")


def test_minimal_configuration_takes_the_defaults():
    cfg = config.parse({"project": "shop", "environment": "prod", "region": "us-east-1"})
    assert cfg.prefix == "shop-prod" and cfg.az == "us-east-1a"
    assert cfg.access.oltp_client_cidrs == () and cfg.access.oltp_ssh is False


def _set(raw: dict, dotted: str, value) -> dict:
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return raw


@pytest.mark.parametrize(("field", "value", "message"), [
    ("region", "Ireland", "region: not an AWS region name"),
    ("project", "Click_Stream", "project: lowercase letters"),
    ("network.vpc_cidr", "10.0.0.0/33", "network.vpc_cidr: not an IPv4 CIDR block"),
    ("network.vpc_cidr", "10.0.0.1/16", "network.vpc_cidr: not an IPv4 CIDR block"),
    ("network.private_subnet_2_cidr", "10.1.3.0/24", "network.private_subnet_2_cidr: 10.1.3.0/24 is not inside"),
    ("network.private_subnet_1_cidr", "10.0.1.128/25", "network.private_subnet_1_cidr: 10.0.1.128/25 overlaps"),
    ("network.ssm_interface_endpoints", "yes", "network.ssm_interface_endpoints: expected true or false"),
    ("network.nat_gateway", True, "network.nat_gateway: unknown field"),
    ("access.admin_cidrs", ["0.0.0.0/0"], "access.admin_cidrs[0]: 0.0.0.0/0 is not an admin network"),
    ("access.oltp_client_cidrs", ["198.51.100.0/24", "0.0.0.0/0"],
     "access.oltp_client_cidrs[1]: 0.0.0.0/0 would open PostgreSQL to the internet"),
    ("access.oltp_client_cidrs", "198.51.100.0/24", "access.oltp_client_cidrs: expected a list"),
    ("hosts.dw.instance_type", "big", "hosts.dw.instance_type: not an instance type"),
    ("hosts.oltp.volume_gb", 4, "hosts.oltp.volume_gb: must be between 8 and 16384"),
    ("hosts.ami_id", "ubuntu", "hosts.ami_id: not an AMI id"),
    ("storage.raw_transition_ia_days", 7, "storage.raw_transition_ia_days: S3 needs at least 30 days"),
    ("storage.raw_expiration_days", 20, "storage.raw_expiration_days: must come after"),
    ("storage.ssm_transfer_bucket_name", "Shop_Transfer", "storage.ssm_transfer_bucket_name: not a valid S3 bucket"),
    ("storage.ssm_transfer_expiration_days", 0, "storage.ssm_transfer_expiration_days: must be between 1 and 30"),
    ("ingest.cors_allowed_origins", ["shop.example.com"], "ingest.cors_allowed_origins[0]: not an origin"),
    ("ingest.timeout_seconds", 60, "ingest.timeout_seconds: must be between 1 and 29"),
    ("etl.schedule", "every 30 minutes", "etl.schedule: expected cron(...) or rate(...)"),
    ("etl.dw_user", "ETL-Loader", "etl.dw_user: lowercase PostgreSQL identifier"),
    ("etl.attribution_lookback_days", 0, "etl.attribution_lookback_days"),
    ("etl.store_currency", "eur", "etl.store_currency: 'eur' is not an active ISO 4217 currency code (codes are"),
    ("etl.store_currency", "EUO", "etl.store_currency: 'EUO' is not an active ISO 4217 currency code"),
    ("etl.store_currency", "XAU", "etl.store_currency: 'XAU' is not an active ISO 4217 currency code"),
    ("etl.page_paths.trailing_slash", "drop", "etl.page_paths.trailing_slash: must be one of fold, keep"),
    ("etl.page_paths.strip_extensions", ["html"], "etl.page_paths.strip_extensions: entries start with '.'"),
    ("etl.page_paths.index_pages", ["shop/index.html"], "etl.page_paths.index_pages: entries are file names"),
    ("etl.page_paths.index_pages", "index.html", "etl.page_paths.index_pages: expected a list"),
    ("etl.page_paths.lowercase", "no", "etl.page_paths.lowercase: expected true or false"),
    ("etl.page_paths.folding", True, "etl.page_paths.folding: unknown field"),
    ("observability.log_retention_days", 31, "observability.log_retention_days: CloudWatch accepts"),
])
def test_invalid_fields_are_named(field, value, message):
    with pytest.raises(ConfigError) as caught:
        config.parse(_set(example(), field, value))
    assert str(caught.value).startswith(message.split(":")[0] + ":")
    assert message.split("(")[0] in str(caught.value)
    assert caught.value.field_path.split("[")[0] == field


def test_missing_required_field():
    raw = example()
    del raw["region"]
    with pytest.raises(ConfigError, match=r"^region: is required$"):
        config.parse(raw)


def test_public_postgres_needs_an_explicit_yes_and_warns():
    raw = _set(example(), "access.oltp_client_cidrs", ["0.0.0.0/0"])
    raw["access"]["allow_public_postgres"] = True
    cfg = config.parse(raw)
    assert cfg.warnings == ("access.oltp_client_cidrs opens 5432 on the OLTP host to the whole internet",)


def test_ssh_needs_admin_networks():
    raw = _set(example(), "access.oltp_ssh", True)
    raw["access"]["admin_cidrs"] = []
    with pytest.raises(ConfigError, match=r"^access.oltp_ssh: needs at least one"):
        config.parse(raw)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("project: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(broken)
    listed = tmp_path / "list.yml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"^\(top level\): expected a mapping"):
        config.load(listed)


def test_ssh_to_the_oltp_host_opens_22_to_admins_only():
    from toolkit.provision.engine import Ctx
    from toolkit.provision.network import Rule, desired_rules

    raw = _set(example(), "access.oltp_ssh", True)
    ctx = Ctx(cfg=config.parse(raw), clients=None)  # the desired rules need no AWS call
    ctx.state.update(sg_etl_id="sg-etl", sg_shiny_id="sg-shiny", sg_dw_id="sg-dw", s3_prefix_list_id="pl-s3",
                     sg_endpoints_id="sg-endpoints")
    oltp = desired_rules(ctx)["sg_oltp_id"]
    assert Rule(False, "tcp", 22, 22, "cidr", "203.0.113.0/28") in oltp
    assert {r for r in oltp if r.from_port == 22} == {Rule(False, "tcp", 22, 22, "cidr", "203.0.113.0/28")}


def test_a_partial_nested_section_keeps_the_other_defaults_of_that_section():
    cfg = config.parse({"project": "shop", "environment": "prod", "region": "us-east-1",
                        "hosts": {"dw": {"volume_gb": 60}}})
    assert (cfg.hosts.dw.instance_type, cfg.hosts.dw.volume_gb) == ("t3.medium", 60)
    assert (cfg.hosts.oltp.instance_type, cfg.hosts.oltp.volume_gb) == ("t3.small", 20)


def test_a_derived_bucket_name_too_long_for_s3_names_the_field():
    from toolkit.provision.engine import Names

    cfg = config.parse({"project": "a-long-project-name", "environment": "staging-europe-22", "region": "eu-west-1"})
    with pytest.raises(RuntimeError, match=r"^storage.raw_bucket_name: the derived bucket name"):
        Names(cfg, "123456789012")
    raw = {"project": "a-long-project-name", "environment": "staging-europe-2", "region": "eu-west-1",
           "storage": {"raw_bucket_name": "shop-raw"}}
    assert Names(config.parse(raw), "123456789012").bucket == "shop-raw"


def test_the_ssm_transfer_bucket_is_never_the_raw_bucket_and_its_long_derived_name_names_its_field():
    from toolkit.provision.engine import Names

    same = _set(_set(example(), "storage.raw_bucket_name", "shop-data"), "storage.ssm_transfer_bucket_name",
                "shop-data")
    with pytest.raises(ConfigError, match=r"^storage.ssm_transfer_bucket_name: must differ"):
        config.parse(same)
    # Derived: <project>-<environment>-ssm-<account>-<region>, as long as the raw bucket's name.
    names = Names(config.parse(example()), "123456789012")
    assert names.ssm_transfer_bucket == "clickstream-dev-ssm-123456789012-eu-west-1"
    assert len(names.ssm_transfer_bucket) == len(names.bucket)
    raw = {"project": "a-long-project-name", "environment": "staging-europe-22", "region": "eu-west-1",
           "storage": {"raw_bucket_name": "shop-raw"}}
    with pytest.raises(RuntimeError, match=r"^storage.ssm_transfer_bucket_name: the derived bucket name"):
        Names(config.parse(raw), "123456789012")
    raw["storage"]["ssm_transfer_bucket_name"] = "shop-ssm-transfer"
    assert Names(config.parse(raw), "123456789012").ssm_transfer_bucket == "shop-ssm-transfer"
