"""inventory/aws_ec2.yml against a moto server: the real `ansible-inventory` and `ansible`
binaries list what scripts/provision.py created for the configuration named by
CLICKSTREAM_CONFIG_FILE, in the oltp, dw and shiny groups, reached with amazon.aws.aws_ssm through
the deployment's transfer bucket.

The deployment is the real one: `scripts/provision.py apply` (with stand-in Lambda zips) for a
configuration of its own project, environment and region, then `outputs` saved where
playbooks/provision.yml saves them. Decoys the filters must leave out: another environment of
the project, a stopped host, and config/example.yml's deployment in its own region.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import boto3
import pytest
import yaml

from tests.ansible.support import BIN, REPO, ansible_env, run
from tests.support import local

CONFIG = {"project": "shop", "environment": "qa", "region": "eu-central-1"}


def _aws_env(url: str) -> dict[str, str]:
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           # Deliberately neither the configuration's region nor the example's.
           "AWS_DEFAULT_REGION": "us-east-1"}
    return env


def _tags(**tags: str) -> list[dict]:
    return [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def _decoy(url: str, region: str, name: str, project: str, environment: str, role: str) -> str:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1, TagSpecifications=_tags(
        Name=name, Project=project, Environment=environment, ManagedBy="clickstream-provision", Role=role,
    ))["Instances"][0]["InstanceId"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if not (BIN / "moto_server").exists():
        pytest.skip("moto[server] is not installed in .venv")
    base = tmp_path_factory.mktemp("aws-inventory")
    raw = yaml.safe_load((REPO / "config" / "example.yml").read_text())
    raw.update(CONFIG)
    raw["network"]["availability_zone"] = "eu-central-1a"
    config_file = base / "shop-qa.yml"
    config_file.write_text(yaml.safe_dump(raw))
    zips = base / "zips"
    zips.mkdir()
    for name in ("ingest", "etl"):  # the inventory does not care what the functions run
        with zipfile.ZipFile(zips / f"{name}.zip", "w") as archive:
            archive.writestr(f"{name}/handler.py", "def handler(event, context):\n    return {}\n")
    state = base / "state"
    server_env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    with local.moto_server(log=base / "moto.log", env=server_env) as url:
        env = {**os.environ, **_aws_env(url), "COLUMNS": "200"}
        env.pop("AWS_PROFILE", None)

        def provision(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, str(REPO / "scripts" / "provision.py"), *args, "--config",
                                   str(config_file)], capture_output=True, text=True, env=env, cwd=REPO,
                                  timeout=600, check=False)

        applied = provision("apply", "--artifacts", str(zips))
        assert applied.returncode == 0, applied.stderr[-4000:]
        outputs = provision("outputs")
        assert outputs.returncode == 0, outputs.stderr[-4000:]
        data = json.loads(outputs.stdout)
        # Where and how playbooks/provision.yml saves them (to_nice_json).
        saved = state / "outputs" / f"provision-{CONFIG['environment']}.json"
        saved.parent.mkdir(parents=True)
        saved.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")

        decoys = {
            "other environment": _decoy(url, "eu-central-1", "shop-prod-oltp", "shop", "prod", "oltp"),
            "example deployment": _decoy(url, "eu-west-1", "clickstream-dev-dw", "clickstream", "dev", "dw"),
        }
        stopped = _decoy(url, "eu-central-1", "shop-qa-old-oltp", "shop", "qa", "oltp")
        boto3.client("ec2", region_name="eu-central-1", endpoint_url=url, aws_access_key_id="testing",
                     aws_secret_access_key="testing").stop_instances(InstanceIds=[stopped])
        yield {"url": url, "config": config_file, "state": state, "outputs": data, "decoys": decoys}


def ansible(deployment, *args: str, config: str | None = None) -> subprocess.CompletedProcess:
    env = ansible_env(**_aws_env(deployment["url"]), CLICKSTREAM_STATE_DIR=str(deployment["state"]),
                      ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    env.pop("AWS_PROFILE", None)
    env.pop("CLICKSTREAM_CONFIG_FILE", None)
    if config is not None:
        env["CLICKSTREAM_CONFIG_FILE"] = config
    return run([*args], env=env, timeout=300)


def _plain(value):
    """ansible-inventory marks values from AWS as {"__ansible_unsafe": value}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def inventory(deployment, config: str | None) -> dict:
    result = ansible(deployment, str(BIN / "ansible-inventory"), "-i", "inventory/aws_ec2.yml", "--list",
                     config=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return _plain(json.loads(result.stdout))


def hosts(listing: dict, group: str) -> list[str]:
    return sorted(listing.get(group, {}).get("hosts", []))


def test_the_configured_deployment_is_listed_in_its_groups(deployment):
    listing = inventory(deployment, str(deployment["config"]))
    assert hosts(listing, "oltp") == ["shop-qa-oltp"]
    assert hosts(listing, "dw") == ["shop-qa-dw"]
    assert hosts(listing, "shiny") == ["shop-qa-dw"]
    assert sorted(listing["_meta"]["hostvars"]) == ["shop-qa-dw", "shop-qa-oltp"]  # no decoy
    out = deployment["outputs"]["hosts"]
    for host, role in (("shop-qa-oltp", "oltp"), ("shop-qa-dw", "dw")):
        hostvars = listing["_meta"]["hostvars"][host]
        assert hostvars["ansible_host"] == out[role]["instance_id"]
        assert hostvars["ansible_aws_ssm_instance_id"] == out[role]["instance_id"]
        assert hostvars["ansible_aws_ssm_region"] == "eu-central-1"
        assert (hostvars["clickstream_host_project"], hostvars["clickstream_host_environment"]) == ("shop", "qa")
        assert hostvars["ansible_connection"] == "amazon.aws.aws_ssm"


def test_each_host_resolves_the_ssm_connection_and_the_transfer_bucket(deployment):
    """The group variables as a play sees them: templates rendered, outputs file read."""
    wanted = ["ansible_connection", "ansible_aws_ssm_bucket_name", "ansible_aws_ssm_bucket_sse_mode",
              "ansible_aws_ssm_region", "ansible_aws_ssm_instance_id", "clickstream_project",
              "clickstream_environment", "clickstream_aws_region", "clickstream_config_file"]
    message = "{{ {" + ", ".join(f"'{v}': {v}" for v in wanted) + "} | to_json }}"
    result = ansible(deployment, str(BIN / "ansible"), "all", "-i", "inventory/aws_ec2.yml",
                     "-m", "ansible.builtin.debug", "-a", f"msg={message}", config=str(deployment["config"]))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The ad-hoc command's minimal callback: "<host> | SUCCESS => {json}" per host. debug runs on
    # the controller: nothing connects to the (emulated) instances.
    rendered = {}
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^(\S+) \| SUCCESS => ", result.stdout, re.MULTILINE):
        rendered[match[1]] = json.loads(decoder.raw_decode(result.stdout, match.end())[0]["msg"])
    assert sorted(rendered) == ["shop-qa-dw", "shop-qa-oltp"]
    outputs = deployment["outputs"]
    for host, role in (("shop-qa-oltp", "oltp"), ("shop-qa-dw", "dw")):
        values = rendered[host]
        assert values["ansible_connection"] == "amazon.aws.aws_ssm"
        assert values["ansible_aws_ssm_bucket_name"] == outputs["ssm_transfer_bucket"] != outputs["raw_bucket"]
        assert values["ansible_aws_ssm_bucket_name"].startswith("shop-qa-ssm-")
        assert values["ansible_aws_ssm_bucket_sse_mode"] == "AES256"
        assert values["ansible_aws_ssm_region"] == values["clickstream_aws_region"] == "eu-central-1"
        assert values["ansible_aws_ssm_instance_id"] == outputs["hosts"][role]["instance_id"]
        assert (values["clickstream_project"], values["clickstream_environment"]) == ("shop", "qa")
        assert values["clickstream_config_file"] == str(deployment["config"])


def test_without_the_variable_it_is_config_example_s_deployment(deployment):
    listing = inventory(deployment, None)
    assert sorted(listing["_meta"]["hostvars"]) == ["clickstream-dev-dw"]
    assert hosts(listing, "dw") == ["clickstream-dev-dw"] and hosts(listing, "oltp") == []
    assert listing["_meta"]["hostvars"]["clickstream-dev-dw"]["ansible_aws_ssm_region"] == "eu-west-1"
    # A relative path is taken from the repository root, as the plays take it.
    assert inventory(deployment, "config/example.yml") == listing
