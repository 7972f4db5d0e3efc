"""plan, apply twice, drift, destroy: against moto with AWS managed policies loaded."""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.provision.conftest import fast_retrier
from toolkit.provision import run
from toolkit.provision.aws import Clients

pytestmark = pytest.mark.usefixtures("aws")
READ_PREFIXES = ("Describe", "Get", "List", "Head")


class RecordingClients(Clients):
    """Clients whose every API call is recorded as (service, operation), in order."""

    def __init__(self, region: str):
        session = boto3.session.Session(region_name=region)
        super().__init__(region, session=session, emulator=True)
        self.calls: list[tuple[str, str]] = []
        session._session.register("before-call", self._record)

    def _record(self, model, **_kwargs):
        self.calls.append((model.service_model.service_name, model.name))

    def mutations(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if not c[1].startswith(READ_PREFIXES)]


def test_plan_on_an_empty_account_lists_everything_and_changes_nothing(cfg, artifacts):
    clients = RecordingClients(cfg.region)
    result = run.plan(cfg, clients, artifacts, retrier=fast_retrier())
    assert clients.mutations() == []
    kinds = {c.kind for c in result.changes}
    assert {c.action for c in result.changes} == {"create"}
    assert {"ec2 vpc", "ec2 subnet", "ec2 security-group", "s3 bucket", "iam role", "ec2 instance",
            "lambda function", "apigateway http-api", "events rule", "cloudwatch alarm"} <= kinds
    assert clients("ec2").describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["clickstream"]}])["Vpcs"] == []


def test_second_apply_reports_no_change_and_creates_nothing_then_drift_is_repaired(cfg, artifacts):
    first = run.apply(cfg, RecordingClients(cfg.region), artifacts, retrier=fast_retrier())
    assert len(first.changes) > 30
    clients = RecordingClients(cfg.region)
    second = run.apply(cfg, clients, artifacts, retrier=fast_retrier())
    assert second.changes == []
    assert second.summary().startswith("no changes")
    assert clients.mutations() == []

    s = first.state
    ec2 = clients("ec2")
    # Someone opens the warehouse to the world, gives a private table a default route, edits the ETL,
    # and versions the SSM transfer bucket (whose deleted files would then linger as old versions).
    clients("s3").put_bucket_versioning(Bucket=s["ssm_transfer_bucket"],
                                        VersioningConfiguration={"Status": "Enabled"})
    ec2.authorize_security_group_ingress(GroupId=s["sg_dw_id"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.create_route(RouteTableId=s["private_rt_2_id"], DestinationCidrBlock="0.0.0.0/0", GatewayId=s["igw_id"])
    clients("lambda").update_function_configuration(FunctionName="clickstream-dev-etl", MemorySize=128)
    planned = {c.line() for c in run.plan(cfg, clients, artifacts, retrier=fast_retrier()).changes}
    assert planned == {
        "~ ec2 security-group clickstream-dev-sg-dw (revoke tcp/5432 ingress from 0.0.0.0/0)",
        "~ ec2 route-table clickstream-dev-private-etl-rt (remove 0.0.0.0/0)",
        "~ lambda function clickstream-dev-etl (MemorySize)",
        f"~ s3 bucket {s['ssm_transfer_bucket']} (versioning suspended)",
    }
    repaired = run.apply(cfg, clients, artifacts, retrier=fast_retrier())
    assert {c.line() for c in repaired.changes} == planned
    assert run.plan(cfg, clients, artifacts, retrier=fast_retrier()).changes == []
    routes = ec2.describe_route_tables(RouteTableIds=[s["private_rt_2_id"]])["RouteTables"][0]["Routes"]
    assert not [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert clients("s3").get_bucket_versioning(Bucket=s["ssm_transfer_bucket"])["Status"] == "Suspended"


def test_turning_off_the_ssm_endpoints_deletes_session_managers_but_keeps_the_etls(cfg, artifacts):
    run.apply(cfg, RecordingClients(cfg.region), artifacts, retrier=fast_retrier())
    off = dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, ssm_interface_endpoints=False))
    result = run.apply(off, RecordingClients(cfg.region), artifacts, retrier=fast_retrier())
    deleted = sorted(c.name for c in result.changes if c.action == "delete")
    # The ETL reads its password and CA certificate through the ssm endpoint: it stays.
    assert deleted == [f"clickstream-dev-{s}-endpoint" for s in ("ec2messages", "ssmmessages")]
    # The gateway endpoint policy no longer needs the SSM agent's buckets.
    assert [c.kind for c in result.changes if c.action == "update"] == ["ec2 vpc-endpoint"]
    assert run.plan(off, RecordingClients(cfg.region), artifacts, retrier=fast_retrier()).changes == []


def remaining(clients: Clients, cfg) -> dict[str, list]:
    """Everything of the project that still exists, by kind."""
    tags = [{"Name": "tag:Project", "Values": [cfg.project]}]
    ec2 = clients("ec2")
    live = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    # Terminated instances stay visible (with their tags) for a while, in AWS as in moto.
    gone = [*tags, {"Name": "instance-state-name", "Values": ["shutting-down", "terminated"]}]
    terminated = {i["InstanceId"] for r in ec2.describe_instances(Filters=gone)["Reservations"] for i in r["Instances"]}
    tagged = clients("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "Project", "Values": [cfg.project]}])["ResourceTagMappingList"]
    return {
        "tagged": [t for t in tagged if t["ResourceARN"].rsplit("/", 1)[-1] not in terminated],
        "vpcs": ec2.describe_vpcs(Filters=tags)["Vpcs"],
        "subnets": ec2.describe_subnets(Filters=tags)["Subnets"],
        "route tables": ec2.describe_route_tables(Filters=tags)["RouteTables"],
        "gateways": ec2.describe_internet_gateways(Filters=tags)["InternetGateways"],
        "security groups": ec2.describe_security_groups(Filters=tags)["SecurityGroups"],
        "endpoints": [e for e in ec2.describe_vpc_endpoints(Filters=tags)["VpcEndpoints"]
                      if e["State"].lower() not in {"deleted", "deleting"}],
        "instances": [i for r in ec2.describe_instances(Filters=tags + live)["Reservations"] for i in r["Instances"]],
        "volumes": [v for v in ec2.describe_volumes(Filters=tags)["Volumes"] if v["State"] != "deleted"],
        "roles": [r for r in clients("iam").list_roles()["Roles"] if r["RoleName"].startswith("clickstream-")],
        "instance profiles": clients("iam").list_instance_profiles()["InstanceProfiles"],
        "functions": clients("lambda").list_functions()["Functions"],
        "apis": clients("apigatewayv2").get_apis()["Items"],
        "rules": clients("events").list_rules()["Rules"],
        "alarms": clients("cloudwatch").describe_alarms()["MetricAlarms"],
        "log groups": clients("logs").describe_log_groups()["logGroups"],
        "parameters": [p for p in clients("ssm").describe_parameters()["Parameters"]
                       if not p["Name"].startswith("/aws/")],
        "queues": clients("sqs").list_queues().get("QueueUrls", []),
        "buckets": clients("s3").list_buckets()["Buckets"],
    }


def put_past_the_tls_policy(s3, bucket: str, key: str) -> None:
    """moto judges its in-process calls insecure transport (so the TLS-only policy refuses them):
    lift the policy for one write; destroy has to get past it on its own."""
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    with pytest.raises(ClientError, match="403"):
        s3.get_object(Bucket=bucket, Key=key)


def test_destroy_in_dependency_order_leaves_nothing_tagged(cfg, artifacts):
    applied = run.apply(cfg, RecordingClients(cfg.region), artifacts, retrier=fast_retrier())
    clients = RecordingClients(cfg.region)
    s3, bucket, transfer = clients("s3"), applied.state["bucket"], applied.state["ssm_transfer_bucket"]
    put_past_the_tls_policy(s3, bucket, "events/2026/11/26/07/x.jsonl")
    # A file an interrupted Ansible run left behind.
    put_past_the_tls_policy(s3, transfer, "i-0123/ansible-tmp/AnsiballZ_setup.py")
    assert all(remaining(clients, cfg)[k] for k in ("tagged", "vpcs", "instances", "functions", "buckets"))

    clients.calls.clear()
    dry = run.destroy(cfg, clients, delete_data=True, plan_only=True, retrier=fast_retrier())
    assert len(dry.changes) > 20 and clients.mutations() == []

    result = run.destroy(cfg, clients, delete_data=True, retrier=fast_retrier())
    assert {c.action for c in result.changes} == {"delete"}
    assert [c.line() for c in result.changes] == [c.line() for c in dry.changes]
    assert {kind: items for kind, items in remaining(clients, cfg).items() if items} == {}
    again = run.destroy(cfg, RecordingClients(cfg.region), delete_data=True, retrier=fast_retrier())
    assert again.changes == []

    order = [op for _, op in clients.mutations()]

    def first(op):
        return order.index(op)

    def last(op):
        return len(order) - 1 - order[::-1].index(op)

    assert last("RemoveTargets") < first("DeleteRule") < first("DeleteFunction")
    assert last("DeleteApi") < first("DeleteFunction")
    assert last("DeleteFunction") < first("DeleteSecurityGroup")
    assert last("TerminateInstances") < first("RemoveRoleFromInstanceProfile")
    assert last("TerminateInstances") < first("DeleteSecurityGroup")
    assert last("DeleteVpcEndpoints") < first("DeleteSecurityGroup")
    assert last("DeleteVpcEndpoints") < first("DeleteRouteTable")
    assert last("RevokeSecurityGroupIngress") < first("DeleteSecurityGroup")
    assert last("DeleteSecurityGroup") < first("DeleteSubnet")
    assert last("RemoveRoleFromInstanceProfile") < first("DeleteRole")
    # No managed policy is attached any more (none to detach); the inline ones go before their role.
    assert last("DeleteRolePolicy") < last("DeleteRole") and "DetachRolePolicy" not in order
    assert last("DetachInternetGateway") < first("DeleteInternetGateway") < first("DeleteVpc")
    assert last("DeleteSubnet") < first("DeleteVpc") and last("DeleteRouteTable") < first("DeleteVpc")
    # Each bucket: policy, then every object, then the bucket; the transient transfer bucket first.
    assert [op for service, op in clients.mutations() if service == "s3"] == [
        "DeleteBucketPolicy", "DeleteObjects", "DeleteBucket"] * 2
    assert [c.name for c in result.changes if c.kind == "s3 bucket"] == [transfer, bucket]


def test_destroy_keeps_the_raw_data_unless_asked_but_always_removes_the_transfer_bucket(cfg, artifacts):
    applied = run.apply(cfg, RecordingClients(cfg.region), artifacts, retrier=fast_retrier())
    bucket, transfer = applied.state["bucket"], applied.state["ssm_transfer_bucket"]
    clients = RecordingClients(cfg.region)
    put_past_the_tls_policy(clients("s3"), transfer, "i-0123/ansible-tmp/AnsiballZ_setup.py")
    result = run.destroy(cfg, clients, retrier=fast_retrier())
    assert [c.line() for c in result.changes if c.kind == "s3 bucket"] == [
        f"- s3 bucket {transfer} (Ansible's transient SSM transfer files)"]
    assert any("kept bucket" in n for n in result.notes)
    assert {kind for kind, items in remaining(clients, cfg).items() if items} == {"tagged", "buckets"}
    assert [b["Name"] for b in clients("s3").list_buckets()["Buckets"]] == [bucket]
