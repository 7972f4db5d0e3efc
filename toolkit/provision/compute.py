"""The OLTP and DW hosts: Debian 12 from the public SSM parameter, IMDSv2, encrypted gp3."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from toolkit.provision.aws import error_code
from toolkit.provision.engine import Ctx

LIVE_STATES = ["pending", "running", "stopping", "stopped"]
EMULATOR_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def resolve_ami(ctx: Ctx) -> None:
    hosts = ctx.cfg.hosts
    if hosts.ami_id:
        ctx.state["ami_id"] = hosts.ami_id
        return
    try:
        ctx.state["ami_id"] = ctx.call("ssm", "get_parameter", Name=hosts.ami_ssm_parameter)["Parameter"]["Value"]
        return
    except ClientError as exc:
        if error_code(exc) != "ParameterNotFound" or not ctx.clients.emulator:
            raise RuntimeError(f"hosts.ami_ssm_parameter: cannot read {hosts.ami_ssm_parameter}: {exc}") from None
    # Only against an emulator: moto does not carry Debian's public parameters and refuses to
    # create names under /aws, but it does have Amazon Linux's, so boot that image there.
    try:
        ami = ctx.call("ssm", "get_parameter", Name=EMULATOR_AMI_PARAMETER)["Parameter"]["Value"]
    except ClientError:
        raise RuntimeError(f"hosts.ami_ssm_parameter: {hosts.ami_ssm_parameter} not found, nor "
                           f"{EMULATOR_AMI_PARAMETER} to fall back to") from None
    ctx.reporter.note(f"{hosts.ami_ssm_parameter} is not available in the emulator; using {ami}")
    ctx.state["ami_id"] = ami


SSM_AGENT_USER_DATA = """#!/bin/sh
# Debian's images do not ship the SSM agent, and Session Manager (and Ansible over SSM) need it.
# It comes from the region's SSM bucket: over the internet gateway on the OLTP host, through the
# S3 gateway endpoint (whose policy allows this bucket) on the private DW host.
if systemctl is-active --quiet amazon-ssm-agent || systemctl is-active --quiet snap.amazon-ssm-agent.amazon-ssm-agent
then exit 0; fi
url=https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_amd64/amazon-ssm-agent.deb
for attempt in 1 2 3 4 5 6; do
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
    "$url" /tmp/amazon-ssm-agent.deb && break
  sleep 10
done
dpkg -i /tmp/amazon-ssm-agent.deb && systemctl enable --now amazon-ssm-agent
rm -f /tmp/amazon-ssm-agent.deb
"""


def user_data(region: str) -> str:
    return SSM_AGENT_USER_DATA.format(region=region)


def host_specs(ctx: Ctx) -> list[dict[str, Any]]:
    n, s, hosts = ctx.names, ctx.state, ctx.cfg.hosts
    return [
        {"key": "oltp", "name": n.oltp_host, "role": "oltp", "host": hosts.oltp, "subnet": s["public_subnet_id"],
         "groups": [s["sg_oltp_id"]], "public_ip": True},
        {"key": "dw", "name": n.dw_host, "role": "dw", "host": hosts.dw, "subnet": s["private_subnet_1_id"],
         "groups": [s["sg_dw_id"], s["sg_shiny_id"]], "public_ip": False},
    ]


def _root_device(ctx: Ctx, ami: str) -> str:
    images = ctx.call("ec2", "describe_images", ImageIds=[ami])["Images"]
    if not images:
        raise RuntimeError(f"AMI {ami} does not exist in {ctx.region}")
    return images[0].get("RootDeviceName") or "/dev/xvda"


def hosts(ctx: Ctx) -> None:
    created = []
    for spec in host_specs(ctx):
        name = spec["name"]
        found = []
        if ctx.known(spec["subnet"]):
            found = ctx.call("ec2", "describe_instances", Filters=[
                *ctx.ownership_filters(), {"Name": "tag:Name", "Values": [name]},
                {"Name": "instance-state-name", "Values": LIVE_STATES}])["Reservations"]
        instances = [i for r in found for i in r["Instances"]]
        if instances:
            instance = instances[0]
            ctx.state[f"{spec['key']}_instance_id"] = instance["InstanceId"]
            ctx.keep()
            if instance.get("InstanceType") != spec["host"].instance_type:
                # Changing the type means stopping a database host: leave it to a person.
                ctx.reporter.note(f"{name} is {instance.get('InstanceType')}, the configuration says "
                                  f"{spec['host'].instance_type}; resize it by hand (needs a stop)")
            continue
        ctx.record("create", "ec2 instance", name,
                   f"{spec['host'].instance_type}, {'public' if spec['public_ip'] else 'private'}, Role={spec['role']}")
        if ctx.plan_only:
            ctx.state[f"{spec['key']}_instance_id"] = ctx.pending("instance")
            continue
        ami = ctx.state["ami_id"]
        # The token makes a retried call idempotent; it changes with the subnet, so a host
        # re-created after a destroy is not answered with the terminated one.
        token = ctx.client_token(name, ami, spec["subnet"])
        response = ctx.call(
            "ec2", "run_instances", iam_propagation=True,
            ImageId=ami, InstanceType=spec["host"].instance_type, MinCount=1, MaxCount=1, ClientToken=token,
            IamInstanceProfile={"Arn": ctx.state["instance_profile_arn"]}, UserData=user_data(ctx.region),
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": spec["subnet"], "Groups": spec["groups"],
                                "AssociatePublicIpAddress": spec["public_ip"], "DeleteOnTermination": True}],
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            BlockDeviceMappings=[{"DeviceName": _root_device(ctx, ami), "Ebs": {
                "VolumeSize": spec["host"].volume_gb, "VolumeType": "gp3", "Encrypted": True,
                "DeleteOnTermination": True}}],
            TagSpecifications=[*ctx.ec2_tags("instance", name, Role=spec["role"]),
                               *ctx.ec2_tags("volume", name, Role=spec["role"])],
        )
        instance_id = response["Instances"][0]["InstanceId"]
        ctx.state[f"{spec['key']}_instance_id"] = instance_id
        created.append(instance_id)
    if created:
        ctx.clients("ec2").get_waiter("instance_running").wait(InstanceIds=created, WaiterConfig={"Delay": 5})
    for spec in host_specs(ctx):
        instance_id = ctx.state[f"{spec['key']}_instance_id"]
        if not ctx.known(instance_id):
            continue
        instance = ctx.call("ec2", "describe_instances", InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        ctx.state[f"{spec['key']}_private_ip"] = instance.get("PrivateIpAddress", "")
        ctx.state[f"{spec['key']}_public_ip"] = instance.get("PublicIpAddress", "")
        ctx.state[f"{spec['key']}_public_dns"] = instance.get("PublicDnsName", "")
