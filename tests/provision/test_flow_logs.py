"""VPC flow logs: off by default; on, a log group with the retention, a least-privilege delivery
role and one flow log on the VPC; idempotent, replaced on change, removed when turned off."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import unquote

import pytest
import yaml
from botocore.stub import ANY

from tests.provision.conftest import EXAMPLE, fast_retrier, stubbed_ctx
from toolkit.provision import config, flow_logs, run
from toolkit.provision.aws import Clients
from toolkit.provision.config import ConfigError

ACCOUNT = "123456789012"
GROUP = "/clickstream/dev/vpc-flow-logs"
ROLE = "clickstream-dev-vpc-flow-logs"
GROUP_ARN = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{GROUP}"

pytestmark = pytest.mark.usefixtures("aws")


def flow_logs_on(cfg: config.Config, traffic: str = "ALL", retention: int | None = None) -> config.Config:
    return config.validate(dataclasses.replace(
        cfg, network=dataclasses.replace(cfg.network, flow_logs=True, flow_logs_traffic_type=traffic),
        observability=dataclasses.replace(cfg.observability,
                                          log_retention_days=retention or cfg.observability.log_retention_days)))


def clients(cfg: config.Config) -> Clients:
    return Clients(cfg.region, emulator=True)


def vpc_flow_logs(c: Clients, vpc_id: str) -> list[dict]:
    return c("ec2").describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]


def log_groups(c: Clients) -> dict[str, int | None]:
    return {g["logGroupName"]: g.get("retentionInDays") for g in c("logs").describe_log_groups()["logGroups"]}


def test_off_by_default_creates_no_flow_log_role_or_group(cfg, artifacts):
    assert cfg.network.flow_logs is False
    c = clients(cfg)
    result = run.apply(cfg, c, artifacts, retrier=fast_retrier())
    assert vpc_flow_logs(c, result.state["vpc_id"]) == []
    assert GROUP not in log_groups(c)
    assert ROLE not in {r["RoleName"] for r in c("iam").list_roles()["Roles"]}
    assert run.outputs(cfg, c)["flow_log_id"] is None


def test_on_the_vpc_logs_into_a_retained_group_through_a_least_privilege_role(cfg, artifacts):
    on = flow_logs_on(cfg, traffic="REJECT", retention=90)
    c = clients(cfg)
    planned = {ch.line() for ch in run.plan(on, c, artifacts, retrier=fast_retrier()).changes}
    assert {"+ logs log-group /clickstream/dev/vpc-flow-logs (retention 90 days)",
            "+ iam role clickstream-dev-vpc-flow-logs (trusted by vpc-flow-logs.amazonaws.com, writes "
            "/clickstream/dev/vpc-flow-logs)",
            "+ ec2 flow-log clickstream-dev-vpc-flow-log (REJECT traffic of the VPC → /clickstream/dev/vpc-flow-logs)",
            } <= planned
    result = run.apply(on, c, artifacts, retrier=fast_retrier())
    [flow_log] = vpc_flow_logs(c, result.state["vpc_id"])
    role = c("iam").get_role(RoleName=ROLE)["Role"]
    assert (flow_log["TrafficType"], flow_log["LogDestinationType"], flow_log["LogGroupName"],
            flow_log["DeliverLogsPermissionArn"]) == ("REJECT", "cloud-watch-logs", GROUP, role["Arn"])
    assert {t["Key"]: t["Value"] for t in flow_log["Tags"]}["Name"] == "clickstream-dev-vpc-flow-log"
    assert run.outputs(on, c)["flow_log_id"] == flow_log["FlowLogId"]

    # Every log group the project creates keeps the configured retention, the flow logs' included.
    assert log_groups(c) == {"/aws/lambda/clickstream-dev-ingest": 90, "/aws/lambda/clickstream-dev-etl": 90,
                             "/aws/apigateway/clickstream-dev-ingest-api": 90, GROUP: 90}

    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    assert trust["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc-flow-log/*"}}}]
    [policy_name] = c("iam").list_role_policies(RoleName=ROLE)["PolicyNames"]
    document = c("iam").get_role_policy(RoleName=ROLE, PolicyName=policy_name)["PolicyDocument"]
    document = json.loads(unquote(document)) if isinstance(document, str) else document
    writes, find = document["Statement"]
    assert sorted(writes["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert writes["Resource"] == [GROUP_ARN, f"{GROUP_ARN}:*"]
    # The one list call IAM cannot narrow to a group; no logs:CreateLogGroup, no "*" anywhere.
    assert (find["Action"], find["Resource"]) == ("logs:DescribeLogGroups",
                                                  f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:*")
    assert c("iam").list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []

    again = run.apply(on, c, artifacts, retrier=fast_retrier())
    assert again.changes == []
    assert len(vpc_flow_logs(c, result.state["vpc_id"])) == 1


def test_a_new_traffic_type_replaces_the_flow_log_and_a_widened_role_is_narrowed(cfg, artifacts):
    c = clients(cfg)
    first = run.apply(flow_logs_on(cfg, "ALL"), c, artifacts, retrier=fast_retrier())
    [old] = vpc_flow_logs(c, first.state["vpc_id"])
    c("iam").put_role_policy(RoleName=ROLE, PolicyName="flow-logs-delivery", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
    rejected = flow_logs_on(cfg, "REJECT")
    planned = [ch.line() for ch in run.plan(rejected, c, artifacts, retrier=fast_retrier()).changes]
    assert planned == [
        "~ iam role clickstream-dev-vpc-flow-logs (inline policy)",
        f"- ec2 flow-log {old['FlowLogId']} (replaced: TrafficType)",
        "+ ec2 flow-log clickstream-dev-vpc-flow-log (REJECT traffic of the VPC → /clickstream/dev/vpc-flow-logs)"]
    run.apply(rejected, c, artifacts, retrier=fast_retrier())
    [new] = vpc_flow_logs(c, first.state["vpc_id"])
    assert new["TrafficType"] == "REJECT" and new["FlowLogId"] != old["FlowLogId"]
    assert run.plan(rejected, c, artifacts, retrier=fast_retrier()).changes == []


def test_turning_it_off_removes_the_flow_log_and_role_and_keeps_the_records(cfg, artifacts):
    c = clients(cfg)
    on = run.apply(flow_logs_on(cfg), c, artifacts, retrier=fast_retrier())
    off = run.apply(cfg, c, artifacts, retrier=fast_retrier())
    assert sorted(ch.line().split(" (")[0] for ch in off.changes) == sorted([
        f"- ec2 flow-log {on.state['flow_log_id']}", f"- iam role {ROLE}"])
    assert vpc_flow_logs(c, on.state["vpc_id"]) == []
    assert ROLE not in {r["RoleName"] for r in c("iam").list_roles()["Roles"]}
    assert GROUP in log_groups(c)
    assert any(f"kept the log group {GROUP}" in note for note in off.notes)
    assert run.apply(cfg, c, artifacts, retrier=fast_retrier()).changes == []
    # destroy removes the group even though the configuration no longer mentions flow logs.
    destroyed = run.destroy(cfg, c, delete_data=True, retrier=fast_retrier())
    assert f"- logs log-group {GROUP}" in [ch.line() for ch in destroyed.changes]
    assert log_groups(c) == {}


def test_destroy_deletes_the_flow_log_before_the_vpc_and_leaves_nothing_tagged(cfg, artifacts):
    on = flow_logs_on(cfg)
    c = clients(cfg)
    applied = run.apply(on, c, artifacts, retrier=fast_retrier())
    lines = [ch.line() for ch in run.destroy(on, c, delete_data=True, retrier=fast_retrier()).changes]
    flow_log = f"- ec2 flow-log {applied.state['flow_log_id']}"
    assert lines.index(flow_log) < lines.index(f"- ec2 vpc {applied.state['vpc_id']}")
    assert f"- iam role {ROLE} (VPC flow log delivery)" in lines
    assert c("ec2").describe_flow_logs()["FlowLogs"] == []
    assert GROUP not in log_groups(c)
    tagged = c("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "Project", "Values": ["clickstream"]}])["ResourceTagMappingList"]
    assert [t["ResourceARN"] for t in tagged if ":flow-log" in t["ResourceARN"]] == []


def test_a_refused_flow_log_stops_the_apply_with_the_reason(cfg, monkeypatch):
    on = flow_logs_on(cfg)
    ctx, stub = stubbed_ctx(on, "ec2", ACCOUNT)
    ctx.state.update(vpc_id="vpc-1", flow_logs_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}")
    stub.add_response("describe_flow_logs", {"FlowLogs": []}, {"Filters": ANY})
    stub.add_response("create_flow_logs", {"FlowLogIds": [], "Unsuccessful": [{"ResourceId": "vpc-1", "Error": {
        "Code": "AccessDenied", "Message": "Unable to assume the given IAM role"}}]}, None)
    monkeypatch.setattr(flow_logs, "delivery_role", lambda _ctx: None)  # the role is not what this is about
    with pytest.raises(RuntimeError, match="could not create the flow log on vpc-1: AccessDenied Unable to assume"):
        flow_logs.flow_logs(ctx)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("flow_logs_traffic_type", "SOME", "network.flow_logs_traffic_type: one of ALL, ACCEPT, REJECT"),
    ("flow_logs", "on", "network.flow_logs: expected true or false"),
])
def test_invalid_flow_log_fields_are_named(field, value, message):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["network"][field] = value
    with pytest.raises(ConfigError) as caught:
        config.parse(raw)
    assert str(caught.value).startswith(message)
