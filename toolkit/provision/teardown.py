"""Dependency-ordered teardown of everything `apply` builds.

Order matters: the schedule and the API go before the functions they invoke; the ETL
function's VPC network interfaces (which Lambda releases minutes after the function is
deleted) must be gone before its security group and subnet can be deleted; instances and
endpoints before security groups; security groups, subnets and route tables before the VPC.
The raw bucket holds data and is only deleted with `delete_data`; the SSM transfer bucket
holds only Ansible's files in flight and always goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from toolkit.provision import flow_logs as flow_log_steps
from toolkit.provision import monitoring
from toolkit.provision.aws import error_code
from toolkit.provision.engine import Ctx
from toolkit.provision.iam import INLINE_POLICY_NAME

ENI_TIMEOUT_SECONDS = 45 * 60  # AWS documents up to tens of minutes for Lambda's ENIs
DEPENDENCY_TIMEOUT_SECONDS = 15 * 60
GONE_CODES = {"ResourceNotFoundException", "NoSuchEntity", "NoSuchBucketPolicy", "NotFoundException", "NoSuchBucket",
              "404", "NotFound",
              "ParameterNotFound", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
              "InvalidGroup.NotFound", "InvalidSubnetID.NotFound", "InvalidVpcID.NotFound",
              "InvalidRouteTableID.NotFound", "InvalidInternetGatewayID.NotFound",
              "ResourceNotFound", "InvalidFlowLogId.NotFound"}


def _gone_ok(ctx: Ctx, service: str, operation: str, **kwargs: Any) -> Any:
    try:
        return ctx.call(service, operation, **kwargs)
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            return None
        raise


def _when_free(ctx: Ctx, what: str, service: str, operation: str, **kwargs: Any) -> None:
    """Delete, retrying DependencyViolation: network interfaces of just-deleted endpoints,
    functions and instances linger for minutes, and AWS refuses the group, subnet or VPC until then."""

    def attempt() -> bool:
        try:
            _gone_ok(ctx, service, operation, **kwargs)
            return True
        except ClientError as exc:
            if error_code(exc) != "DependencyViolation":
                raise
            ctx.reporter.note(f"{what} is still in use; retrying")
            return False

    ctx.retrier.wait_until(attempt, f"{what} to be free", DEPENDENCY_TIMEOUT_SECONDS, interval=10.0)


def _delete(ctx: Ctx, kind: str, name: str, action: Callable[[], Any], detail: str = "") -> None:
    ctx.reconcile("delete", kind, name, detail, apply=action)


def schedule(ctx: Ctx) -> None:
    rule = ctx.names.etl_rule
    if _gone_ok(ctx, "events", "describe_rule", Name=rule) is None:
        return

    def remove() -> None:
        targets = ctx.call("events", "list_targets_by_rule", Rule=rule)["Targets"]
        if targets:
            ctx.call("events", "remove_targets", Rule=rule, Ids=[t["Id"] for t in targets])
        ctx.call("events", "delete_rule", Name=rule)

    _delete(ctx, "events rule", rule, remove)


def api(ctx: Ctx) -> None:
    for page in ctx.clients("apigatewayv2").get_paginator("get_apis").paginate():
        for item in page["Items"]:
            tags = item.get("Tags", {})
            if item["Name"] == ctx.names.api and tags.get("Project") == ctx.cfg.project and tags.get(
                    "Environment") == ctx.cfg.environment:
                _delete(ctx, "apigateway http-api", item["Name"],
                        lambda i=item: ctx.call("apigatewayv2", "delete_api", ApiId=i["ApiId"]))


def alarms(ctx: Ctx) -> None:
    n = ctx.names
    names = [n.alarm_etl_errors, n.alarm_etl_lag, n.alarm_etl_failures, n.alarm_ingest_5xx]
    found = [a["AlarmName"] for a in ctx.call("cloudwatch", "describe_alarms", AlarmNames=names)["MetricAlarms"]]
    if found:
        _delete(ctx, "cloudwatch alarm", ", ".join(found), lambda: ctx.call("cloudwatch", "delete_alarms",
                                                                            AlarmNames=found))


def dashboard(ctx: Ctx) -> None:
    name = ctx.names.dashboard
    if _gone_ok(ctx, "cloudwatch", "get_dashboard", DashboardName=name) is not None:
        _delete(ctx, "cloudwatch dashboard", name,
                lambda: ctx.call("cloudwatch", "delete_dashboards", DashboardNames=[name]))


def alarm_topic(ctx: Ctx) -> None:
    """The subscriptions, the topic, then its key: scheduled for deletion (KMS keeps a key at
    least 7 days) and its alias removed, so a new apply creates a new key."""
    n, arn = ctx.names, monitoring.topic_arn(ctx)
    if _gone_ok(ctx, "sns", "get_topic_attributes", TopicArn=arn) is not None:
        for subscription in monitoring.list_subscriptions(ctx, arn):
            # One awaiting confirmation cannot be deleted; SNS drops it with the topic.
            if monitoring.confirmed(subscription):
                _delete(ctx, "sns subscription", f"{subscription['Protocol']} {subscription['Endpoint']}",
                        lambda s=subscription: _gone_ok(ctx, "sns", "unsubscribe",
                                                        SubscriptionArn=s["SubscriptionArn"]))
        _delete(ctx, "sns topic", n.alarm_topic, lambda: ctx.call("sns", "delete_topic", TopicArn=arn))
    key = _gone_ok(ctx, "kms", "describe_key", KeyId=n.alarm_topic_key_alias)
    if key is None:
        return
    meta = key["KeyMetadata"]

    def drop_key() -> None:
        if meta.get("KeyState") != "PendingDeletion":
            ctx.call("kms", "schedule_key_deletion", KeyId=meta["KeyId"],
                     PendingWindowInDays=monitoring.KEY_DELETION_DAYS)
        ctx.call("kms", "delete_alias", AliasName=n.alarm_topic_key_alias)

    _delete(ctx, "kms key", n.alarm_topic_key_alias, drop_key,
            f"deleted by KMS after {monitoring.KEY_DELETION_DAYS} days")


def functions(ctx: Ctx) -> None:
    for name in (ctx.names.ingest_function, ctx.names.etl_function):
        if _gone_ok(ctx, "lambda", "get_function", FunctionName=name) is not None:
            _delete(ctx, "lambda function", name, lambda n=name: ctx.call("lambda", "delete_function", FunctionName=n))


def _tagged(ctx: Ctx, operation: str, key: str, *filters: dict[str, Any]) -> list[dict[str, Any]]:
    return ctx.call("ec2", operation, Filters=[*ctx.ownership_filters(), *filters])[key]


def etl_network_interfaces(ctx: Ctx) -> None:
    """Wait until Lambda has released the ETL's ENIs; the security group cannot go before."""
    groups = _tagged(ctx, "describe_security_groups", "SecurityGroups",
                     {"Name": "tag:Name", "Values": [ctx.names.sg_etl]})
    if not groups or ctx.plan_only:
        return
    group_id = groups[0]["GroupId"]

    def released() -> bool:
        interfaces = ctx.call("ec2", "describe_network_interfaces",
                              Filters=[{"Name": "group-id", "Values": [group_id]}])["NetworkInterfaces"]
        for interface in interfaces:
            # Lambda sets them to "available" once detached; those can be deleted right away.
            if interface.get("Status") == "available":
                _gone_ok(ctx, "ec2", "delete_network_interface", NetworkInterfaceId=interface["NetworkInterfaceId"])
        remaining = [i for i in interfaces if i.get("Status") != "available"]
        if remaining:
            ctx.reporter.note(f"waiting for {len(remaining)} Lambda network interface(s) to be released")
        return not remaining

    ctx.retrier.wait_until(released, f"the ETL Lambda's network interfaces in {group_id}", ENI_TIMEOUT_SECONDS,
                           interval=15.0)


def failures_queue(ctx: Ctx) -> None:
    found = _gone_ok(ctx, "sqs", "get_queue_url", QueueName=ctx.names.etl_failures_queue)
    if found is not None:
        _delete(ctx, "sqs queue", ctx.names.etl_failures_queue,
                lambda: ctx.call("sqs", "delete_queue", QueueUrl=found["QueueUrl"]))


def instances(ctx: Ctx) -> None:
    reservations = _tagged(ctx, "describe_instances", "Reservations",
                           {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]})
    ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    if not ids:
        return

    def terminate() -> None:
        ctx.call("ec2", "terminate_instances", InstanceIds=ids)
        ctx.clients("ec2").get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 5})

    _delete(ctx, "ec2 instance", ", ".join(ids), terminate)


def iam(ctx: Ctx) -> None:
    n = ctx.names
    profile = _gone_ok(ctx, "iam", "get_instance_profile", InstanceProfileName=n.instance_profile)
    if profile is not None:
        def drop_profile() -> None:
            for role in profile["InstanceProfile"].get("Roles", []):
                ctx.call("iam", "remove_role_from_instance_profile", InstanceProfileName=n.instance_profile,
                         RoleName=role["RoleName"])
            ctx.call("iam", "delete_instance_profile", InstanceProfileName=n.instance_profile)

        _delete(ctx, "iam instance-profile", n.instance_profile, drop_profile)
    for role in (n.ingest_role, n.etl_role, n.ec2_role):
        if _gone_ok(ctx, "iam", "get_role", RoleName=role) is None:
            continue

        def drop_role(role: str = role) -> None:
            for policy in ctx.call("iam", "list_role_policies", RoleName=role)["PolicyNames"]:
                ctx.call("iam", "delete_role_policy", RoleName=role, PolicyName=policy)
            for policy in ctx.call("iam", "list_attached_role_policies", RoleName=role)["AttachedPolicies"]:
                ctx.call("iam", "detach_role_policy", RoleName=role, PolicyArn=policy["PolicyArn"])
            ctx.call("iam", "delete_role", RoleName=role)

        _delete(ctx, "iam role", role, drop_role, f"with {INLINE_POLICY_NAME} policy")


def endpoints(ctx: Ctx) -> None:
    found = _tagged(ctx, "describe_vpc_endpoints", "VpcEndpoints",
                    {"Name": "vpc-endpoint-state", "Values": ["pending", "available", "pendingAcceptance"]})
    ids = [e["VpcEndpointId"] for e in found]
    if not ids:
        return

    def remove() -> None:
        ctx.call("ec2", "delete_vpc_endpoints", VpcEndpointIds=ids)

        def gone() -> bool:
            try:
                left = ctx.call("ec2", "describe_vpc_endpoints", VpcEndpointIds=ids)["VpcEndpoints"]
            except ClientError as exc:
                if error_code(exc) == "InvalidVpcEndpointId.NotFound":
                    return True
                raise
            return all(e.get("State", "").lower() in {"deleted", "failed"} for e in left)

        ctx.retrier.wait_until(gone, "VPC endpoints to be deleted", 600, interval=5.0)

    _delete(ctx, "ec2 vpc-endpoint", ", ".join(ids), remove)


def flow_logs(ctx: Ctx) -> None:
    """The VPC's flow log and its delivery role (whether or not network.flow_logs is on now)."""
    flow_log_steps.delete_flow_logs(ctx, flow_log_steps.owned_flow_logs(ctx), "")
    flow_log_steps.delete_role(ctx, "VPC flow log delivery")


def security_groups(ctx: Ctx) -> None:
    groups = [g for g in _tagged(ctx, "describe_security_groups", "SecurityGroups") if g["GroupName"] != "default"]
    if not groups:
        return
    if not ctx.plan_only:
        # Groups that reference each other (DW ↔ ETL, DW ↔ Shiny) cannot be deleted while the
        # references exist, so revoke every rule first.
        for group in groups:
            rules = ctx.call("ec2", "describe_security_group_rules",
                             Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["SecurityGroupRules"]
            for egress in (False, True):
                ids = [r["SecurityGroupRuleId"] for r in rules if r["IsEgress"] is egress]
                if ids:
                    operation = "revoke_security_group_egress" if egress else "revoke_security_group_ingress"
                    ctx.call("ec2", operation, GroupId=group["GroupId"], SecurityGroupRuleIds=ids)
    for group in groups:
        _delete(ctx, "ec2 security-group", group["GroupName"],
                lambda g=group: _when_free(ctx, f"security group {g['GroupName']}", "ec2", "delete_security_group",
                                           GroupId=g["GroupId"]))


def network(ctx: Ctx) -> None:
    for subnet in _tagged(ctx, "describe_subnets", "Subnets"):
        _delete(ctx, "ec2 subnet", subnet["CidrBlock"],
                lambda s=subnet: _when_free(ctx, f"subnet {s['CidrBlock']}", "ec2", "delete_subnet",
                                            SubnetId=s["SubnetId"]))
    for table in _tagged(ctx, "describe_route_tables", "RouteTables"):
        def drop_table(t: dict[str, Any] = table) -> None:
            for association in t.get("Associations", []):
                if not association.get("Main") and association.get("RouteTableAssociationId"):
                    _gone_ok(ctx, "ec2", "disassociate_route_table",
                             AssociationId=association["RouteTableAssociationId"])
            _gone_ok(ctx, "ec2", "delete_route_table", RouteTableId=t["RouteTableId"])

        _delete(ctx, "ec2 route-table", table["RouteTableId"], drop_table)
    for gateway in _tagged(ctx, "describe_internet_gateways", "InternetGateways"):
        def drop_gateway(g: dict[str, Any] = gateway) -> None:
            for attachment in g.get("Attachments", []):
                _when_free(ctx, "the internet gateway", "ec2", "detach_internet_gateway",
                           InternetGatewayId=g["InternetGatewayId"], VpcId=attachment["VpcId"])
            ctx.call("ec2", "delete_internet_gateway", InternetGatewayId=g["InternetGatewayId"])

        _delete(ctx, "ec2 internet-gateway", gateway["InternetGatewayId"], drop_gateway)
    for vpc in _tagged(ctx, "describe_vpcs", "Vpcs"):
        _delete(ctx, "ec2 vpc", vpc["VpcId"],
                lambda v=vpc: _when_free(ctx, f"VPC {v['VpcId']}", "ec2", "delete_vpc", VpcId=v["VpcId"]))


def parameters_and_logs(ctx: Ctx) -> None:
    n = ctx.names
    if _gone_ok(ctx, "ssm", "get_parameter", Name=n.dw_password_parameter) is not None:
        _delete(ctx, "ssm parameter", n.dw_password_parameter,
                lambda: ctx.call("ssm", "delete_parameter", Name=n.dw_password_parameter))
    for group in (n.function_log_group(n.ingest_function), n.function_log_group(n.etl_function), n.api_log_group,
                  n.flow_log_group):
        found = ctx.call("logs", "describe_log_groups", logGroupNamePrefix=group)["logGroups"]
        if any(g["logGroupName"] == group for g in found):
            _delete(ctx, "logs log-group", group, lambda g=group: ctx.call("logs", "delete_log_group",
                                                                           logGroupName=g))


def _empty_and_delete(ctx: Ctx, name: str) -> None:
    s3 = ctx.clients("s3")
    # The bucket policy only denies; dropping it first means no condition of it (TLS, or one
    # added by hand) can stop the deletion half way.
    _gone_ok(ctx, "s3", "delete_bucket_policy", Bucket=name)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
        if doomed:
            errors = ctx.call("s3", "delete_objects", Bucket=name,
                              Delete={"Objects": doomed, "Quiet": True}).get("Errors", [])
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} object(s) from {name}, e.g. "
                                   f"{errors[0]['Key']}: {errors[0].get('Code')} {errors[0].get('Message')}")
    ctx.call("s3", "delete_bucket", Bucket=name)


def ssm_transfer_bucket(ctx: Ctx) -> None:
    """Always deleted: it only holds files of Ansible runs in flight, never data."""
    name = ctx.names.ssm_transfer_bucket
    if _gone_ok(ctx, "s3", "head_bucket", Bucket=name) is None:
        return
    _delete(ctx, "s3 bucket", name, lambda: _empty_and_delete(ctx, name), "Ansible's transient SSM transfer files")


def bucket(ctx: Ctx, delete_data: bool) -> None:
    name = ctx.names.bucket
    if _gone_ok(ctx, "s3", "head_bucket", Bucket=name) is None:
        return
    if not delete_data:
        ctx.reporter.note(f"kept bucket {name} and its data (pass --delete-data to delete it)")
        return
    _delete(ctx, "s3 bucket", name, lambda: _empty_and_delete(ctx, name), "and every object in it")


def destroy_steps(delete_data: bool) -> list[tuple[str, Callable[[Ctx], None]]]:
    return [
        ("EventBridge schedule", schedule),
        ("HTTP API", api),
        ("alarms", alarms),
        ("dashboard", dashboard),
        ("alarm topic", alarm_topic),
        ("Lambda functions", functions),
        ("ETL network interfaces", etl_network_interfaces),
        ("ETL failure queue", failures_queue),
        ("EC2 hosts", instances),
        ("IAM", iam),
        ("VPC endpoints", endpoints),
        ("VPC flow logs", flow_logs),
        ("security groups", security_groups),
        ("subnets, route tables, gateway, VPC", network),
        ("parameters and log groups", parameters_and_logs),
        ("SSM transfer bucket", ssm_transfer_bucket),
        ("raw bucket", lambda ctx: bucket(ctx, delete_data)),
    ]
