"""IAM roles (least privilege, resources by ARN) and the EC2 instance profile."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from toolkit.provision import policies
from toolkit.provision.aws import error_code
from toolkit.provision.engine import Ctx, canonical_json

INLINE_POLICY_NAME = "least-privilege"


def role_specs(ctx: Ctx) -> list[tuple[str, str, str, dict[str, Any], list[str]]]:
    """(state key, role name, service principal, inline policy, managed policy ARNs)."""
    n = ctx.names
    bucket_arn = f"arn:{ctx.clients.partition}:s3:::{n.bucket}"
    transfer_arn = f"arn:{ctx.clients.partition}:s3:::{n.ssm_transfer_bucket}"
    log = lambda fn: ctx.arn("logs", f"log-group:{n.function_log_group(fn)}")  # noqa: E731
    queue_arn = ctx.arn("sqs", n.etl_failures_queue)
    # Parameter names start with "/", which the ARN's "parameter" is followed by.
    password_arn, ca_arn = (ctx.arn("ssm", f"parameter{p}") for p in (n.dw_password_parameter, n.dw_ca_parameter))
    # Resolved by storage.dw_password, the step before.
    ssm_key_arn = ctx.state.get("ssm_kms_key_arn") or ctx.pending("kms key")
    partition = ctx.clients.partition
    return [
        ("ingest_role_arn", n.ingest_role, "lambda.amazonaws.com",
         policies.ingest_policy(bucket_arn, log(n.ingest_function)), []),
        ("etl_role_arn", n.etl_role, "lambda.amazonaws.com",
         policies.etl_policy(bucket_arn, log(n.etl_function), queue_arn, [password_arn, ca_arn], ssm_key_arn,
                             ctx.region, partition), []),
        # No AWS managed policy: AmazonSSMManagedInstanceCore would let the hosts read every
        # parameter, the warehouse password included. An existing attachment is detached.
        ("ec2_role_arn", n.ec2_role, "ec2.amazonaws.com",
         policies.ec2_host_policy(bucket_arn, transfer_arn, ca_arn, partition, ctx.region, ctx.account), []),
    ]


def _document(value: Any) -> str:
    if isinstance(value, str):
        value = json.loads(unquote(value))
    return canonical_json(value)


def _get(ctx: Ctx, operation: str, key: str, **kwargs: Any) -> dict[str, Any] | None:
    try:
        return ctx.call("iam", operation, **kwargs)[key]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def roles(ctx: Ctx) -> None:
    for key, name, service, inline, managed in role_specs(ctx):
        trust = policies.assume_role(service)
        role = _get(ctx, "get_role", "Role", RoleName=name)
        if role is None:
            ctx.record("create", "iam role", name, f"trusted by {service}")
            ctx.state[key] = ctx.arn("iam", f"role/{name}", region=False)
            if ctx.plan_only:
                continue
            ctx.state[key] = ctx.call("iam", "create_role", RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                                      Description=f"{ctx.cfg.prefix}: {service}", Tags=ctx.tag_list())["Role"]["Arn"]
            current_inline, current_managed = None, set()
        else:
            ctx.state[key] = role["Arn"]
            ctx.keep()
            if _document(role["AssumeRolePolicyDocument"]) != canonical_json(trust):
                ctx.reconcile("update", "iam role", name, "trust policy",
                              apply=partial(ctx.call, "iam", "update_assume_role_policy", RoleName=name,
                                            PolicyDocument=json.dumps(trust)))
            found = _get(ctx, "get_role_policy", "PolicyDocument", RoleName=name, PolicyName=INLINE_POLICY_NAME)
            current_inline = _document(found) if found is not None else None
            attached = ctx.call("iam", "list_attached_role_policies", RoleName=name)["AttachedPolicies"]
            current_managed = {p["PolicyArn"] for p in attached}
            if current_inline != canonical_json(inline):
                ctx.record("update", "iam role", name, "inline policy")
            for arn in sorted(current_managed ^ set(managed)):
                ctx.record("update", "iam role", name, f"{'detach' if arn in current_managed else 'attach'} {arn}")
        if ctx.plan_only:
            continue
        if current_inline != canonical_json(inline):
            ctx.call("iam", "put_role_policy", RoleName=name, PolicyName=INLINE_POLICY_NAME,
                     PolicyDocument=json.dumps(inline))
        for arn in sorted(set(managed) - current_managed):
            ctx.call("iam", "attach_role_policy", RoleName=name, PolicyArn=arn)
        for arn in sorted(current_managed - set(managed)):
            ctx.call("iam", "detach_role_policy", RoleName=name, PolicyArn=arn)


def instance_profile(ctx: Ctx) -> None:
    name, role = ctx.names.instance_profile, ctx.names.ec2_role
    profile = _get(ctx, "get_instance_profile", "InstanceProfile", InstanceProfileName=name)
    if profile is None:
        ctx.record("create", "iam instance-profile", name, f"role {role}")
        ctx.state["instance_profile_arn"] = ctx.arn("iam", f"instance-profile/{name}", region=False)
        if ctx.plan_only:
            return
        profile = ctx.call("iam", "create_instance_profile", InstanceProfileName=name,
                           Tags=ctx.tag_list())["InstanceProfile"]
        ctx.call("iam", "add_role_to_instance_profile", InstanceProfileName=name, RoleName=role)
        ctx.clients("iam").get_waiter("instance_profile_exists").wait(InstanceProfileName=name,
                                                                      WaiterConfig={"Delay": 1})
    else:
        ctx.keep()
        if role not in {r["RoleName"] for r in profile.get("Roles", [])}:
            ctx.reconcile("update", "iam instance-profile", name, f"add role {role}",
                          apply=lambda: ctx.call("iam", "add_role_to_instance_profile", InstanceProfileName=name,
                                                 RoleName=role))
    ctx.state["instance_profile_arn"] = profile["Arn"]
