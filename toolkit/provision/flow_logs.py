"""VPC flow logs (network.flow_logs, off by default) into a CloudWatch Logs group.

On: the log group (created with the deployment's retention by serverless.log_groups, the step
before), a delivery role that VPC Flow Logs alone may assume and that may only write into that
group, and one flow log on the VPC. A flow log cannot be modified, so a new traffic type or
role replaces it. Off: an existing flow log and its role are deleted; the log group and the
records in it are kept until their retention expires (`destroy` deletes the group).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from toolkit.provision import policies
from toolkit.provision.aws import error_code
from toolkit.provision.engine import Ctx, canonical_json

DELIVERY_POLICY_NAME = "flow-logs-delivery"
DESTINATION_TYPE = "cloud-watch-logs"


def log_group_arn(ctx: Ctx) -> str:
    return ctx.arn("logs", f"log-group:{ctx.names.flow_log_group}")


def trust_policy(ctx: Ctx) -> dict[str, Any]:
    return policies.flow_logs_trust_policy(ctx.clients.partition, ctx.region, ctx.account)


def delivery_policy(ctx: Ctx) -> dict[str, Any]:
    return policies.flow_logs_delivery_policy(log_group_arn(ctx))


def owned_flow_logs(ctx: Ctx) -> list[dict[str, Any]]:
    """This deployment's flow logs, found by their tags (whatever VPC they are on)."""
    return ctx.call("ec2", "describe_flow_logs", Filters=[
        *ctx.ownership_filters(), {"Name": "tag:Name", "Values": [ctx.names.flow_log]}])["FlowLogs"]


def _document(value: Any) -> str:
    return canonical_json(json.loads(unquote(value)) if isinstance(value, str) else value)


def _get_role(ctx: Ctx) -> dict[str, Any] | None:
    try:
        return ctx.call("iam", "get_role", RoleName=ctx.names.flow_logs_role)["Role"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def _inline_policy(ctx: Ctx) -> str | None:
    try:
        found = ctx.call("iam", "get_role_policy", RoleName=ctx.names.flow_logs_role,
                         PolicyName=DELIVERY_POLICY_NAME)["PolicyDocument"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    return _document(found)


def delivery_role(ctx: Ctx) -> None:
    name, trust, inline = ctx.names.flow_logs_role, trust_policy(ctx), delivery_policy(ctx)
    role = _get_role(ctx)
    if role is None:
        ctx.record("create", "iam role", name,
                   f"trusted by vpc-flow-logs.amazonaws.com, writes {ctx.names.flow_log_group}")
        ctx.state["flow_logs_role_arn"] = ctx.arn("iam", f"role/{name}", region=False)
        if ctx.plan_only:
            return
        ctx.state["flow_logs_role_arn"] = ctx.call(
            "iam", "create_role", RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
            Description=f"{ctx.cfg.prefix}: VPC flow log delivery to {ctx.names.flow_log_group}",
            Tags=ctx.tag_list())["Role"]["Arn"]
        ctx.call("iam", "put_role_policy", RoleName=name, PolicyName=DELIVERY_POLICY_NAME,
                 PolicyDocument=json.dumps(inline))
        return
    ctx.state["flow_logs_role_arn"] = role["Arn"]
    ctx.keep()
    if _document(role["AssumeRolePolicyDocument"]) != canonical_json(trust):
        ctx.reconcile("update", "iam role", name, "trust policy",
                      apply=lambda: ctx.call("iam", "update_assume_role_policy", RoleName=name,
                                             PolicyDocument=json.dumps(trust)))
    if _inline_policy(ctx) != canonical_json(inline):
        ctx.reconcile("update", "iam role", name, "inline policy",
                      apply=lambda: ctx.call("iam", "put_role_policy", RoleName=name, PolicyName=DELIVERY_POLICY_NAME,
                                             PolicyDocument=json.dumps(inline)))


def delete_role(ctx: Ctx, detail: str) -> None:
    name = ctx.names.flow_logs_role
    if _get_role(ctx) is None:
        return
    ctx.reconcile("delete", "iam role", name, detail, apply=lambda: _delete_role(ctx, name))


def _delete_role(ctx: Ctx, name: str) -> None:
    for policy in ctx.call("iam", "list_role_policies", RoleName=name)["PolicyNames"]:
        ctx.call("iam", "delete_role_policy", RoleName=name, PolicyName=policy)
    for policy in ctx.call("iam", "list_attached_role_policies", RoleName=name)["AttachedPolicies"]:
        ctx.call("iam", "detach_role_policy", RoleName=name, PolicyArn=policy["PolicyArn"])
    ctx.call("iam", "delete_role", RoleName=name)


def delete_flow_logs(ctx: Ctx, found: list[dict[str, Any]], detail: str) -> None:
    if not found:
        return
    ids = [f["FlowLogId"] for f in found]
    unsuccessful = ctx.reconcile("delete", "ec2 flow-log", ", ".join(ids), detail,
                                 apply=lambda: ctx.call("ec2", "delete_flow_logs", FlowLogIds=ids).get("Unsuccessful"))
    failed = [u for u in unsuccessful or [] if u.get("Error", {}).get("Code") != "InvalidFlowLogId.NotFound"]
    if failed:
        raise RuntimeError(f"could not delete flow log {failed[0].get('ResourceId')}: "
                           f"{failed[0].get('Error', {}).get('Message')}")


def _drift(ctx: Ctx, flow_log: dict[str, Any]) -> list[str]:
    wanted = {"ResourceId": ctx.state["vpc_id"], "TrafficType": ctx.cfg.network.flow_logs_traffic_type,
              "LogDestinationType": DESTINATION_TYPE, "LogGroupName": ctx.names.flow_log_group,
              "DeliverLogsPermissionArn": ctx.state["flow_logs_role_arn"]}
    return [key for key, value in wanted.items() if flow_log.get(key) != value]


def flow_logs(ctx: Ctx) -> None:
    n, net = ctx.names, ctx.cfg.network
    found = owned_flow_logs(ctx)
    if not net.flow_logs:
        delete_flow_logs(ctx, found, "network.flow_logs is off")
        delete_role(ctx, "network.flow_logs is off")
        groups = ctx.call("logs", "describe_log_groups", logGroupNamePrefix=n.flow_log_group)["logGroups"]
        if any(g["logGroupName"] == n.flow_log_group for g in groups):
            ctx.reporter.note(f"kept the log group {n.flow_log_group}: its records expire with its retention, "
                              "destroy deletes it")
        return
    delivery_role(ctx)
    current = [f for f in found if not _drift(ctx, f)][:1]
    stale = [f for f in found if f not in current]
    if stale:
        delete_flow_logs(ctx, stale, "replaced: " + (", ".join(_drift(ctx, stale[0])) or "a duplicate"))
    if current:
        ctx.state["flow_log_id"] = current[0]["FlowLogId"]
        ctx.keep()
        return
    ctx.record("create", "ec2 flow-log", n.flow_log, f"{net.flow_logs_traffic_type} traffic of the VPC → "
                                                     f"{n.flow_log_group}")
    if ctx.plan_only:
        ctx.state["flow_log_id"] = ctx.pending("flow log")
        return
    response = ctx.call(
        "ec2", "create_flow_logs", iam_propagation=True, ResourceIds=[ctx.state["vpc_id"]], ResourceType="VPC",
        TrafficType=net.flow_logs_traffic_type, LogDestinationType=DESTINATION_TYPE, LogGroupName=n.flow_log_group,
        DeliverLogsPermissionArn=ctx.state["flow_logs_role_arn"],
        # No ClientToken: turning flow logs off and on again repeats the same request, and AWS
        # would answer it with the deleted flow log. A duplicate is refused (FlowLogAlreadyExists).
        TagSpecifications=ctx.ec2_tags("vpc-flow-log", n.flow_log))
    if response.get("Unsuccessful"):
        error = response["Unsuccessful"][0].get("Error", {})
        raise RuntimeError(f"could not create the flow log on {ctx.state['vpc_id']}: {error.get('Code')} "
                           f"{error.get('Message')}")
    ctx.state["flow_log_id"] = response["FlowLogIds"][0]
