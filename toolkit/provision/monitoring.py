"""Where the alarms go, and what an operator looks at: the deployment's SNS topic (its KMS key,
policy and subscriptions) and the pipeline's CloudWatch dashboard.

The topic is encrypted with a customer managed key of its own, not with AWS's alias/aws/sns:
that key's policy cannot be edited and does not let CloudWatch use it, so alarms would fail to
publish to the topic ("CloudWatch Alarms does not have authorization to access the SNS topic
encryption key"). Both the key and the topic admit the CloudWatch service only on behalf of this
account's alarms named <prefix>-* (aws:SourceAccount, aws:SourceArn).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from toolkit.provision.aws import error_code
from toolkit.provision.engine import Ctx, canonical_json
from toolkit.provision.serverless import LAG_METRIC, alarm_specs

KEY_DELETION_DAYS = 7  # the shortest pending window KMS allows
PENDING = "PendingConfirmation"  # what SNS lists instead of the ARN of an unconfirmed subscription
# Protocols the configuration owns (observability.alarm_email, alarm_https_endpoints): one of
# these that is not configured is unsubscribed. Others (sqs, lambda, sms, firehose) added by hand are left alone.
MANAGED_PROTOCOLS = {"email", "email-json", "http", "https"}
API_PERIOD = 300
ETL_PERIOD = 1800


def _missing(exc: ClientError, *codes: str) -> bool:
    return error_code(exc) in codes


def alarm_source_arn(ctx: Ctx) -> str:
    return ctx.arn("cloudwatch", f"alarm:{ctx.names.alarm_name_pattern}")


def topic_arn(ctx: Ctx) -> str:
    return ctx.arn("sns", ctx.names.alarm_topic)


def _cloudwatch_condition(ctx: Ctx) -> dict[str, Any]:
    return {"StringEquals": {"aws:SourceAccount": ctx.account}, "ArnLike": {"aws:SourceArn": alarm_source_arn(ctx)}}


def key_policy(ctx: Ctx) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            # The account administers the key through IAM, as with KMS's default key policy;
            # without this statement nobody could ever change or delete it.
            {"Sid": "AccountAdministersTheKey", "Effect": "Allow",
             "Principal": {"AWS": f"arn:{ctx.clients.partition}:iam::{ctx.account}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": _cloudwatch_condition(ctx)},
        ],
    }


def topic_policy(ctx: Ctx) -> dict[str, Any]:
    """Only this account's alarms may publish; principals of the account act through their IAM policies."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
             "Action": "sns:Publish", "Resource": topic_arn(ctx), "Condition": _cloudwatch_condition(ctx)},
        ],
    }


# --- KMS key ---------------------------------------------------------------------------------


def _describe_key(ctx: Ctx, key: str) -> dict[str, Any] | None:
    try:
        return ctx.call("kms", "describe_key", KeyId=key)["KeyMetadata"]
    except ClientError as exc:
        if _missing(exc, "NotFoundException"):
            return None
        raise


def alarm_topic_key(ctx: Ctx) -> None:
    alias = ctx.names.alarm_topic_key_alias
    wanted = key_policy(ctx)
    meta = _describe_key(ctx, alias)
    if meta is None:
        ctx.record("create", "kms key", alias, "customer managed, yearly rotation; usable by this account's alarms")
        if ctx.plan_only:
            ctx.state["alarm_topic_key_arn"] = ctx.pending("kms key")
            return
        # Not tagged with Project/Environment: a destroyed deployment's key stays (disabled,
        # pending deletion) for KEY_DELETION_DAYS, and would look like a leftover of it.
        meta = ctx.call("kms", "create_key", Description=f"{ctx.cfg.prefix}: the alarm topic {ctx.names.alarm_topic}",
                        KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
                        Policy=json.dumps(wanted))["KeyMetadata"]
        ctx.call("kms", "create_alias", AliasName=alias, TargetKeyId=meta["KeyId"])
        ctx.call("kms", "enable_key_rotation", KeyId=meta["KeyId"])
        ctx.state["alarm_topic_key_arn"] = meta["Arn"]
        return
    ctx.state["alarm_topic_key_arn"] = meta["Arn"]
    key_id = meta["KeyId"]
    ctx.keep()
    state = meta.get("KeyState")
    if state in {"PendingDeletion", "Disabled"}:
        ctx.record("update", "kms key", alias,
                   "cancel the scheduled deletion" if state == "PendingDeletion" else "enable")
        if ctx.plan_only:
            return  # a key in these states answers no policy or rotation query
        if state == "PendingDeletion":
            ctx.call("kms", "cancel_key_deletion", KeyId=key_id)
        ctx.call("kms", "enable_key", KeyId=key_id)
    current = ctx.call("kms", "get_key_policy", KeyId=key_id, PolicyName="default")["Policy"]
    if canonical_json(current) != canonical_json(wanted):
        ctx.reconcile("update", "kms key", alias, "key policy",
                      apply=lambda: ctx.call("kms", "put_key_policy", KeyId=key_id, PolicyName="default",
                                             Policy=json.dumps(wanted)))
    if not ctx.call("kms", "get_key_rotation_status", KeyId=key_id).get("KeyRotationEnabled"):
        ctx.reconcile("update", "kms key", alias, "enable rotation",
                      apply=lambda: ctx.call("kms", "enable_key_rotation", KeyId=key_id))


# --- SNS topic and subscriptions -------------------------------------------------------------


def topic_attributes(ctx: Ctx) -> dict[str, str]:
    return {"DisplayName": f"{ctx.cfg.prefix} alarms", "KmsMasterKeyId": ctx.state["alarm_topic_key_arn"],
            "Policy": json.dumps(topic_policy(ctx))}


def _topic(ctx: Ctx) -> dict[str, str] | None:
    try:
        return ctx.call("sns", "get_topic_attributes", TopicArn=topic_arn(ctx))["Attributes"]
    except ClientError as exc:
        if _missing(exc, "NotFound", "NotFoundException"):
            return None
        raise


def alarm_topic(ctx: Ctx) -> None:
    name, wanted = ctx.names.alarm_topic, topic_attributes(ctx)
    current = _topic(ctx)
    if current is None:
        ctx.record("create", "sns topic", name, f"encrypted with {ctx.names.alarm_topic_key_alias}; "
                                                f"publishers: alarms {ctx.names.alarm_name_pattern}")
        if ctx.plan_only:
            ctx.state["alarm_topic_arn"] = ctx.pending("sns topic")
            return
        ctx.state["alarm_topic_arn"] = ctx.call("sns", "create_topic", Name=name, Attributes=wanted,
                                                Tags=ctx.tag_list())["TopicArn"]
        return
    ctx.state["alarm_topic_arn"] = current.get("TopicArn") or topic_arn(ctx)
    ctx.keep()
    for attribute, value in wanted.items():
        same = (canonical_json(current[attribute]) == canonical_json(value) if attribute == "Policy" and
                current.get(attribute) else current.get(attribute) == value)
        if same:
            continue
        ctx.reconcile("update", "sns topic", name, attribute,
                      apply=partial(ctx.call, "sns", "set_topic_attributes", TopicArn=ctx.state["alarm_topic_arn"],
                                    AttributeName=attribute, AttributeValue=value))


def wanted_subscriptions(ctx: Ctx) -> list[tuple[str, str]]:
    obs = ctx.cfg.observability
    return [*(("email", e) for e in obs.alarm_email), *(("https", u) for u in obs.alarm_https_endpoints)]


def _key(protocol: str, endpoint: str) -> tuple[str, str]:
    # Mailbox names are compared as SNS delivers to them: regardless of case.
    return protocol, endpoint.lower() if protocol.startswith("email") else endpoint


def list_subscriptions(ctx: Ctx, arn: str) -> list[dict[str, Any]]:
    pages = ctx.clients("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
    return [s for page in pages for s in page.get("Subscriptions", [])]


def confirmed(subscription: dict[str, Any]) -> bool:
    return subscription.get("SubscriptionArn", "").startswith("arn:")


def subscriptions(ctx: Ctx) -> None:
    wanted = wanted_subscriptions(ctx)
    if not wanted and not ctx.cfg.observability.alarm_actions:
        ctx.reporter.note("the alarms notify nobody: set observability.alarm_email or alarm_https_endpoints")
    arn = ctx.state["alarm_topic_arn"]
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    if ctx.known(arn):
        for subscription in list_subscriptions(ctx, arn):
            existing[_key(subscription["Protocol"], subscription["Endpoint"])] = subscription
    for protocol, endpoint in wanted:
        found = existing.pop(_key(protocol, endpoint), None)
        if found is not None:
            ctx.keep()
            if not confirmed(found):
                ctx.reporter.note(f"the {protocol} subscription {endpoint} awaits confirmation (SNS sent a link; "
                                  "it is deleted if not confirmed within 48 hours, and the next apply asks again)")
            continue
        ctx.reconcile("create", "sns subscription", f"{protocol} {endpoint}", "until confirmed by its recipient",
                      apply=partial(ctx.call, "sns", "subscribe", TopicArn=arn, Protocol=protocol, Endpoint=endpoint,
                                    ReturnSubscriptionArn=True))
    for subscription in existing.values():
        protocol, endpoint = subscription["Protocol"], subscription["Endpoint"]
        if protocol not in MANAGED_PROTOCOLS:
            ctx.reporter.note(f"left the {protocol} subscription {endpoint} alone (not managed by the configuration)")
        elif not confirmed(subscription):
            # SNS refuses to delete a subscription awaiting confirmation; it drops it after 48 hours.
            ctx.reporter.note(f"the {protocol} subscription {endpoint} is no longer configured but awaits "
                              "confirmation, which SNS does not let anyone cancel; it expires within 48 hours")
        else:
            ctx.reconcile("delete", "sns subscription", f"{protocol} {endpoint}", "no longer configured",
                          apply=partial(ctx.call, "sns", "unsubscribe",
                                        SubscriptionArn=subscription["SubscriptionArn"]))


# --- dashboard -------------------------------------------------------------------------------


def _metric(namespace: str, name: str, dimensions: dict[str, str], **options: Any) -> list[Any]:
    row: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return [*row, options] if options else row


def _graph(ctx: Ctx, title: str, metrics: list[list[Any]], stat: str, period: int,
           **extra: Any) -> dict[str, Any]:
    return {"type": "metric", "properties": {"title": title, "region": ctx.region, "view": "timeSeries",
                                             "stacked": False, "stat": stat, "period": period, "metrics": metrics,
                                             **extra}}


def dashboard_body(ctx: Ctx) -> dict[str, Any]:
    """Every metric here is one AWS publishes for the resources provisioned, or one the ingest and
    ETL functions emit as EMF (lambdas/*/handler.py, namespace Clickstream, dimension Function)."""
    n, s = ctx.names, ctx.state
    api = {"ApiId": s.get("api_id") or ctx.pending("api"), "Stage": "$default"}
    ingest_fn, etl_fn = {"FunctionName": n.ingest_function}, {"FunctionName": n.etl_function}
    ingest_emf, etl_emf = {"Function": "ingest"}, {"Function": "etl"}
    lag_ns, lag_name = LAG_METRIC
    graphs = [
        _graph(ctx, "Ingest API requests", [_metric("AWS/ApiGateway", "Count", api, label="requests")], "Sum",
               API_PERIOD),
        _graph(ctx, "Ingest API 4xx / 5xx", [_metric("AWS/ApiGateway", "4xx", api, label="4xx"),
                                            _metric("AWS/ApiGateway", "5xx", api, label="5xx")], "Sum", API_PERIOD),
        _graph(ctx, "Ingest Lambda errors and throttles",
               [_metric("AWS/Lambda", "Errors", ingest_fn, label="errors"),
                _metric("AWS/Lambda", "Throttles", ingest_fn, label="throttles")], "Sum", API_PERIOD),
        _graph(ctx, "Ingest Lambda duration (ms)",
               [_metric("AWS/Lambda", "Duration", ingest_fn, stat="p50", label="p50"),
                _metric("AWS/Lambda", "Duration", ingest_fn, stat="p99", label="p99")], "p50", API_PERIOD),
        _graph(ctx, "Events accepted / rejected at ingest",
               [_metric("Clickstream", "EventsAccepted", ingest_emf, label="accepted"),
                _metric("Clickstream", "EventsRejected", ingest_emf, label="rejected")], "Sum", API_PERIOD),
        _graph(ctx, "ETL run duration (ms)",
               [_metric("Clickstream", "RunDuration", etl_emf, label="run (reported by the ETL)"),
                _metric("AWS/Lambda", "Duration", etl_fn, label="invocation")], "Maximum", ETL_PERIOD),
        _graph(ctx, "ETL lag: age of the newest loaded event (s)",
               [_metric(lag_ns, lag_name, etl_emf, label="lag")], "Maximum", ETL_PERIOD,
               annotations={"horizontal": [{"label": "alarm", "value": ctx.cfg.etl.lag_alarm_seconds}]}),
        _graph(ctx, "Events loaded into the warehouse",
               [_metric("Clickstream", "EventsLoaded", etl_emf, label="loaded"),
                _metric("Clickstream", "EventsDuplicate", etl_emf, label="duplicates"),
                _metric("Clickstream", "EventsRejected", etl_emf, label="rejected")], "Sum", ETL_PERIOD),
        _graph(ctx, "ETL errors and raw objects it could not read (see Data health)",
               [_metric("AWS/Lambda", "Errors", etl_fn, label="errors"),
                _metric("Clickstream", "ObjectsSkipped", etl_emf, label="objects skipped")], "Sum", ETL_PERIOD),
        _graph(ctx, "Failed ETL invocations waiting in the DLQ",
               [_metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": n.etl_failures_queue},
                        label="messages")], "Maximum", API_PERIOD),
    ]
    alarms = [ctx.arn("cloudwatch", f"alarm:{spec['AlarmName']}") for spec in alarm_specs(ctx)]
    widgets: list[dict[str, Any]] = [
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": (
            f"# {ctx.cfg.prefix}: clickstream pipeline\n"
            f"Ingest API → `{n.ingest_function}` → raw bucket → `{n.etl_function}` every run of "
            f"`{ctx.cfg.etl.schedule}` → warehouse. Alarms notify the SNS topic `{n.alarm_topic}`.")}},
        {"type": "alarm", "x": 0, "y": 2, "width": 24, "height": 3,
         "properties": {"title": "Alarms", "alarms": alarms}},
    ]
    for index, graph in enumerate(graphs):
        widgets.append({**graph, "x": 12 * (index % 2), "y": 5 + 6 * (index // 2), "width": 12, "height": 6})
    return {"start": "-PT24H", "periodOverride": "inherit", "widgets": widgets}


def _dashboard(ctx: Ctx) -> str | None:
    try:
        return ctx.call("cloudwatch", "get_dashboard", DashboardName=ctx.names.dashboard)["DashboardBody"]
    except ClientError as exc:
        if _missing(exc, "ResourceNotFound", "ResourceNotFoundException"):
            return None
        raise


def dashboard(ctx: Ctx) -> None:
    name = ctx.names.dashboard
    current = _dashboard(ctx)
    if not ctx.cfg.observability.dashboard:
        if current is not None:
            ctx.reconcile("delete", "cloudwatch dashboard", name, "observability.dashboard is off",
                          apply=lambda: ctx.call("cloudwatch", "delete_dashboards", DashboardNames=[name]))
        return
    ctx.state["dashboard"] = name
    body = dashboard_body(ctx)
    if current is None:
        action, detail = "create", f"{len(body['widgets'])} widgets"
    elif json.loads(current) == body:
        ctx.keep()
        return
    else:
        action, detail = "update", "widgets"
    messages = ctx.reconcile(action, "cloudwatch dashboard", name, detail, apply=lambda: ctx.call(
        "cloudwatch", "put_dashboard", DashboardName=name,
        DashboardBody=json.dumps(body, separators=(",", ":"))).get("DashboardValidationMessages"))
    for message in messages or []:
        ctx.reporter.note(f"dashboard {name}: {message.get('DataPath', '')} {message.get('Message', '')}")


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"
