"""AWS faults with botocore's Stubber: throttling, IAM eventual consistency, teardown order."""

from __future__ import annotations

import json
import random

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from tests.provision.conftest import fast_retrier
from toolkit.provision import network, run, teardown
from toolkit.provision.aws import Clients, Retrier
from toolkit.provision.engine import Ctx

ACCOUNT = "123456789012"
PROPAGATION = "The role defined for the function cannot be assumed by Lambda."


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def stubbed(cfg, *services: str, sleeps: Sleeps | None = None, **retrier_options):
    """A Ctx whose clients for `services` are Stubber-wrapped; every call lands in one shared log."""
    clients = Clients(cfg.region, session=boto3.session.Session(region_name=cfg.region))
    clients._account_id = ACCOUNT
    log: list[str] = []
    stubbers = {}
    for service in services:
        client = clients.session.client(service, region_name=cfg.region)
        client.meta.events.register("before-parameter-build", lambda model, **_: log.append(model.name))
        clients.set(service, client)
        stubbers[service] = Stubber(client)
        stubbers[service].activate()
    retrier = Retrier(sleep=sleeps if sleeps is not None else Sleeps(), rng=random.Random(7), **retrier_options)
    return Ctx(cfg=cfg, clients=clients, retrier=retrier), stubbers, log


# --- throttling ----------------------------------------------------------------------------


def test_throttled_lookups_back_off_with_jitter_then_succeed(cfg):
    sleeps = Sleeps()
    ctx, stub, _ = stubbed(cfg, "ec2", sleeps=sleeps)
    ec2 = stub["ec2"]
    ec2.add_client_error("describe_vpcs", "RequestLimitExceeded", "Request limit exceeded.")
    ec2.add_client_error("describe_vpcs", "Throttling", "Rate exceeded")
    ec2.add_client_error("describe_vpcs", "RequestLimitExceeded", "Request limit exceeded.")
    ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}]},
                     {"Filters": ANY})
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.add_response("describe_vpc_attribute", {"VpcId": "vpc-1", attribute: {"Value": True}}, None)
    network.vpc(ctx)
    ec2.assert_no_pending_responses()
    assert ctx.state["vpc_id"] == "vpc-1" and ctx.changes == [] and ctx.unchanged == 1
    # Full jitter within a doubling cap: 0.5-1, 1-2, 2-4 seconds.
    assert len(sleeps) == 3
    for delay, (low, high) in zip(sleeps, [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0)], strict=True):
        assert low <= delay <= high


def test_throttling_gives_up_after_the_attempt_budget(cfg):
    sleeps = Sleeps()
    ctx, stub, _ = stubbed(cfg, "iam", sleeps=sleeps, attempts=4)
    for _ in range(4):
        stub["iam"].add_client_error("get_role", "Throttling", "Rate exceeded", http_status_code=400)
    with pytest.raises(ClientError, match="Throttling"):
        ctx.call("iam", "get_role", RoleName="x")
    assert len(sleeps) == 3
    stub["iam"].assert_no_pending_responses()


def test_other_errors_are_not_retried(cfg):
    sleeps = Sleeps()
    ctx, stub, _ = stubbed(cfg, "ec2", sleeps=sleeps)
    stub["ec2"].add_client_error("create_vpc", "VpcLimitExceeded", "The maximum number of VPCs has been reached.")
    with pytest.raises(ClientError, match="VpcLimitExceeded"):
        ctx.call("ec2", "create_vpc", CidrBlock="10.0.0.0/16")
    assert sleeps == []


# --- IAM eventual consistency ----------------------------------------------------------------


def _create_function_kwargs():
    return {"FunctionName": "f", "Role": f"arn:aws:iam::{ACCOUNT}:role/r", "Runtime": "python3.12",
            "Handler": "h.h", "Code": {"ZipFile": b"PK"}}


FUNCTION = {"FunctionName": "f", "FunctionArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f"}


def test_a_new_role_rejected_for_a_few_seconds_is_waited_for(cfg):
    sleeps = Sleeps()
    ctx, stub, _ = stubbed(cfg, "lambda", sleeps=sleeps)
    for _ in range(3):
        stub["lambda"].add_client_error("create_function", "InvalidParameterValueException", PROPAGATION)
    stub["lambda"].add_response("create_function", FUNCTION)
    assert ctx.call("lambda", "create_function", iam_propagation=True, **_create_function_kwargs()) == FUNCTION
    assert sleeps == [3.0, 3.0, 3.0]


def test_a_new_instance_profile_rejected_by_ec2_is_waited_for(cfg):
    sleeps = Sleeps()
    ctx, stub, _ = stubbed(cfg, "ec2", sleeps=sleeps)
    stub["ec2"].add_client_error(
        "run_instances", "InvalidParameterValue",
        "Value (arn:aws:iam::123456789012:instance-profile/p) for parameter iamInstanceProfile.arn is invalid. "
        "Invalid IAM Instance Profile ARN")
    stub["ec2"].add_response("run_instances", {"Instances": [{"InstanceId": "i-1"}]})
    response = ctx.call("ec2", "run_instances", iam_propagation=True, ImageId="ami-12345678", MinCount=1, MaxCount=1)
    assert response["Instances"][0]["InstanceId"] == "i-1"
    assert sleeps == [3.0]


def test_propagation_errors_are_only_waited_for_where_asked_and_not_forever(cfg):
    ctx, stub, _ = stubbed(cfg, "lambda", propagation_timeout=9.0)
    stub["lambda"].add_client_error("create_function", "InvalidParameterValueException", PROPAGATION)
    with pytest.raises(ClientError, match="cannot be assumed"):
        ctx.call("lambda", "create_function", **_create_function_kwargs())
    for _ in range(4):
        stub["lambda"].add_client_error("create_function", "InvalidParameterValueException", PROPAGATION)
    with pytest.raises(ClientError, match="cannot be assumed"):
        ctx.call("lambda", "create_function", iam_propagation=True, **_create_function_kwargs())
    assert ctx.retrier.waited == 9.0
    # A different invalid parameter is a real error, not propagation.
    stub["lambda"].add_client_error("create_function", "InvalidParameterValueException",
                                    "Unzipped size must be smaller than 262144000 bytes")
    with pytest.raises(ClientError, match="Unzipped size"):
        ctx.call("lambda", "create_function", iam_propagation=True, **_create_function_kwargs())
    stub["lambda"].assert_no_pending_responses()


def test_apply_rides_out_iam_propagation_on_both_functions(cfg, artifacts, aws):
    """moto accepts a new role at once; make Lambda refuse it twice per function, as AWS does."""
    clients = Clients(cfg.region, emulator=True)
    refused: list[str] = []

    def refuse_new_role(model, params, **_):
        name = json.loads(params["body"])["FunctionName"]
        if refused.count(name) < 2:
            refused.append(name)
            error = {"Error": {"Code": "InvalidParameterValueException", "Message": PROPAGATION},
                     "ResponseMetadata": {"HTTPStatusCode": 400}}
            return _Http(400), error
        return None

    clients("lambda").meta.events.register("before-call.lambda.CreateFunction", refuse_new_role)
    sleeps = Sleeps()
    result = run.apply(cfg, clients, artifacts, retrier=Retrier(sleep=sleeps))
    assert sorted(refused) == ["clickstream-dev-etl"] * 2 + ["clickstream-dev-ingest"] * 2
    assert sleeps.count(3.0) == 4
    assert {c.name for c in result.changes if c.kind == "lambda function"} == {"clickstream-dev-etl",
                                                                                "clickstream-dev-ingest"}


class _Http:
    def __init__(self, status: int):
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""
        self.raw = None


# --- teardown order ------------------------------------------------------------------------


def _function(name: str) -> dict:
    arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}"
    return {"Configuration": {"FunctionName": name, "FunctionArn": arn}}


def _eni(status: str) -> dict:
    return {"NetworkInterfaceId": "eni-1", "Status": status, "InterfaceType": "lambda",
            "Groups": [{"GroupId": "sg-etl"}]}


def _teardown_script(stub, eni_states: list[str]) -> None:
    lam, ec2 = stub["lambda"], stub["ec2"]
    for name in ("clickstream-dev-ingest", "clickstream-dev-etl"):
        lam.add_response("get_function", _function(name), {"FunctionName": name})
        lam.add_response("delete_function", {}, {"FunctionName": name})
    ec2.add_response("describe_security_groups", {"SecurityGroups": [
        {"GroupId": "sg-etl", "GroupName": "clickstream-dev-sg-etl-lambda"}]}, {"Filters": ANY})
    for state in eni_states:
        ec2.add_response("describe_network_interfaces",
                         {"NetworkInterfaces": [_eni(state)] if state != "gone" else []},
                         {"Filters": [{"Name": "group-id", "Values": ["sg-etl"]}]})
        if state == "available":
            ec2.add_response("delete_network_interface", {}, {"NetworkInterfaceId": "eni-1"})


def test_security_group_waits_for_the_etl_network_interfaces(cfg):
    sleeps = Sleeps()
    ctx, stub, log = stubbed(cfg, "lambda", "ec2", sleeps=sleeps)
    # Lambda keeps the ENI in use for two polls, then detaches it; destroy deletes it itself.
    _teardown_script(stub, ["in-use", "in-use", "available"])
    ec2 = stub["ec2"]
    ec2.add_response("describe_security_groups", {"SecurityGroups": [
        {"GroupId": "sg-etl", "GroupName": "clickstream-dev-sg-etl-lambda"},
        {"GroupId": "sg-dw", "GroupName": "clickstream-dev-sg-dw"}]}, {"Filters": ANY})
    ec2.add_response("describe_security_group_rules", {"SecurityGroupRules": [
        {"SecurityGroupRuleId": "sgr-1", "GroupId": "sg-etl", "IsEgress": True, "IpProtocol": "tcp",
         "FromPort": 5432, "ToPort": 5432, "ReferencedGroupInfo": {"GroupId": "sg-dw"}}]}, None)
    ec2.add_response("revoke_security_group_egress", {"Return": True},
                     {"GroupId": "sg-etl", "SecurityGroupRuleIds": ["sgr-1"]})
    ec2.add_response("describe_security_group_rules", {"SecurityGroupRules": [
        {"SecurityGroupRuleId": "sgr-2", "GroupId": "sg-dw", "IsEgress": False, "IpProtocol": "tcp",
         "FromPort": 5432, "ToPort": 5432, "ReferencedGroupInfo": {"GroupId": "sg-etl"}}]}, None)
    ec2.add_response("revoke_security_group_ingress", {"Return": True},
                     {"GroupId": "sg-dw", "SecurityGroupRuleIds": ["sgr-2"]})
    ec2.add_response("delete_security_group", {}, {"GroupId": "sg-etl"})
    ec2.add_response("delete_security_group", {}, {"GroupId": "sg-dw"})

    for step in (teardown.functions, teardown.etl_network_interfaces, teardown.security_groups):
        step(ctx)
    for s in stub.values():
        s.assert_no_pending_responses()
    assert log == [
        "GetFunction", "DeleteFunction", "GetFunction", "DeleteFunction",
        "DescribeSecurityGroups", "DescribeNetworkInterfaces", "DescribeNetworkInterfaces",
        "DescribeNetworkInterfaces", "DeleteNetworkInterface",
        "DescribeSecurityGroups", "DescribeSecurityGroupRules", "RevokeSecurityGroupEgress",
        "DescribeSecurityGroupRules", "RevokeSecurityGroupIngress", "DeleteSecurityGroup", "DeleteSecurityGroup",
    ]
    assert sleeps == [15.0, 15.0]


def test_network_interfaces_that_never_go_stop_the_teardown_with_a_clear_error(cfg, monkeypatch):
    monkeypatch.setattr(teardown, "ENI_TIMEOUT_SECONDS", 45)
    ctx, stub, log = stubbed(cfg, "lambda", "ec2")
    _teardown_script(stub, ["in-use"] * 4)
    teardown.functions(ctx)
    with pytest.raises(TimeoutError, match="network interfaces in sg-etl"):
        teardown.etl_network_interfaces(ctx)
    assert "DeleteSecurityGroup" not in log
    assert ctx.reporter.notes[-1] == "waiting for 1 Lambda network interface(s) to be released"


def test_destroy_plan_lists_in_dependency_order(cfg, artifacts, aws):
    clients = Clients(cfg.region, emulator=True)
    run.apply(cfg, clients, artifacts, retrier=fast_retrier())
    kinds = [c.kind for c in run.destroy(cfg, clients, plan_only=True, delete_data=True).changes]
    order = ["events rule", "apigateway http-api", "cloudwatch alarm", "cloudwatch dashboard", "sns topic", "kms key",
             "lambda function", "sqs queue",
             "ec2 instance", "iam instance-profile", "iam role", "ec2 vpc-endpoint", "ec2 security-group",
             "ec2 subnet", "ec2 route-table", "ec2 internet-gateway", "ec2 vpc", "ssm parameter", "logs log-group",
             "s3 bucket"]
    assert list(dict.fromkeys(kinds)) == order


def test_a_group_still_held_by_lingering_interfaces_is_retried_until_free(cfg):
    sleeps = Sleeps()
    ctx, stub, _ = stubbed(cfg, "ec2", sleeps=sleeps)
    ec2 = stub["ec2"]
    ec2.add_response("describe_security_groups", {"SecurityGroups": [
        {"GroupId": "sg-end", "GroupName": "clickstream-dev-sg-endpoints"}]}, {"Filters": ANY})
    ec2.add_response("describe_security_group_rules", {"SecurityGroupRules": []}, None)
    for _ in range(2):
        ec2.add_client_error("delete_security_group", "DependencyViolation",
                             "resource sg-end has a dependent object", expected_params={"GroupId": "sg-end"})
    ec2.add_response("delete_security_group", {}, {"GroupId": "sg-end"})
    teardown.security_groups(ctx)
    ec2.assert_no_pending_responses()
    assert sleeps == [10.0, 10.0]
    assert ctx.reporter.notes == ["security group clickstream-dev-sg-endpoints is still in use; retrying"] * 2
