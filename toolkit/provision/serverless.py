"""Log groups, the ETL failure queue, both Lambdas, the HTTP API, the schedule and the alarms."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from toolkit.provision.aws import error_code
from toolkit.provision.config import page_path_rule
from toolkit.provision.engine import Ctx

RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
HANDLERS = {"ingest": "ingest.handler.handler", "etl": "etl.handler.handler"}
ROUTES = ("POST /clickstream", "OPTIONS /clickstream")  # the function answers CORS preflights itself


def route_keys(ingest: Any) -> tuple[str, ...]:
    """The API's routes: /clickstream and each route a tracker dialect is configured for."""
    extra = [f"{method} {path}" for path in sorted(ingest.route_dialects) for method in ("POST", "OPTIONS")]
    return (*ROUTES, *extra)
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey", "status": "$context.status", "protocol": "$context.protocol",
    "responseLength": "$context.responseLength", "integrationError": "$context.integrationErrorMessage",
    "latency": "$context.responseLatency",
}, separators=(",", ":"))
LAG_METRIC = ("Clickstream", "EtlLagSeconds")  # emitted by the ETL as EMF, dimension Function=etl


def log_group_names(ctx: Ctx) -> list[str]:
    """Every log group the deployment writes to; provisioning creates each with its retention."""
    n = ctx.names
    groups = [n.function_log_group(n.ingest_function), n.function_log_group(n.etl_function), n.api_log_group]
    if ctx.cfg.network.flow_logs:
        groups.append(n.flow_log_group)
    return groups


def log_groups(ctx: Ctx) -> None:
    retention = ctx.cfg.observability.log_retention_days
    for group in log_group_names(ctx):
        found = [g for g in ctx.call("logs", "describe_log_groups", logGroupNamePrefix=group)["logGroups"]
                 if g["logGroupName"] == group]
        if found:
            ctx.keep()
            if found[0].get("retentionInDays") == retention:
                continue
        ctx.reconcile("update" if found else "create", "logs log-group", group, f"retention {retention} days",
                      apply=partial(_put_log_group, ctx, group, retention, create=not found))


def _put_log_group(ctx: Ctx, group: str, retention: int, create: bool) -> None:
    if create:
        ctx.call("logs", "create_log_group", logGroupName=group, tags=ctx.cfg.tags())
    ctx.call("logs", "put_retention_policy", logGroupName=group, retentionInDays=retention)


def failures_queue(ctx: Ctx) -> None:
    name = ctx.names.etl_failures_queue
    ctx.state["etl_failures_queue_arn"] = ctx.arn("sqs", name)
    try:
        ctx.state["etl_failures_queue_url"] = ctx.call("sqs", "get_queue_url", QueueName=name)["QueueUrl"]
        ctx.keep()
        return
    except ClientError as exc:
        if error_code(exc) not in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
            raise
    ctx.record("create", "sqs queue", name, "on-failure destination of the ETL, 14 days")
    if ctx.plan_only:
        return
    ctx.state["etl_failures_queue_url"] = ctx.call(
        "sqs", "create_queue", QueueName=name, tags=ctx.cfg.tags(),
        Attributes={"MessageRetentionPeriod": str(14 * 86400), "SqsManagedSseEnabled": "true"},
    )["QueueUrl"]


def function_environment(ctx: Ctx, function: str) -> dict[str, str]:
    cfg, s = ctx.cfg, ctx.state
    if function == "ingest":
        i = cfg.ingest
        return {
            "RAW_BUCKET_NAME": ctx.names.bucket,
            "CORS_ALLOWED_ORIGINS": ",".join(o.rstrip("/") for o in i.cors_allowed_origins),
            "CORS_ALLOW_CREDENTIALS": str(i.cors_allow_credentials).lower(),
            "MAX_EVENTS_PER_REQUEST": str(i.max_events_per_request),
            "MAX_BODY_BYTES": str(i.max_body_bytes),
            "RAW_GZIP": str(i.raw_gzip).lower(),
            "SOURCE_IPV4_PREFIX": str(i.source_ipv4_prefix),
            "SOURCE_IPV6_PREFIX": str(i.source_ipv6_prefix),
            "INGEST_DIALECT": i.dialect,
            "INGEST_ORIGIN_DIALECTS": ",".join(f"{o.rstrip('/')}={d}" for o, d in sorted(i.origin_dialects.items())),
            "INGEST_ROUTE_DIALECTS": ",".join(f"{r}={d}" for r, d in sorted(i.route_dialects.items())),
        }
    e = cfg.etl
    return {
        "RAW_BUCKET_NAME": ctx.names.bucket,
        "DW_PG_HOST": s.get("dw_private_ip") or ctx.pending("dw host address"),
        "DW_PG_PORT": str(e.dw_port),
        "DW_PG_USER": e.dw_user,
        # Names, not values: the function reads both through the ssm VPC endpoint (lambdas/etl/credentials.py).
        "DW_PG_PASSWORD_PARAMETER": ctx.names.dw_password_parameter,
        "DW_PG_DATABASE": e.dw_database,
        "DW_PG_SSL": "verify-full",
        "DW_PG_SSL_ROOT_CERT_PARAMETER": ctx.names.dw_ca_parameter,
        "ETL_LOOKBACK_HOURS": str(e.lookback_hours),
        "ETL_PARSE_WORKERS": str(etl_parse_workers(e.memory_mb)),
        "ETL_PAGE_PATH_RULES": page_path_rule(e).to_json(),
        "ETL_ATTRIBUTION_LOOKBACK_DAYS": str(e.attribution_lookback_days),
        **({"ETL_STORE_CURRENCY": e.store_currency} if e.store_currency else {}),
    }


def etl_parse_workers(memory_mb: int) -> int:
    """Parse processes for the ETL Lambda's memory size.

    Lambda gives a full vCPU per 1,769 MB but always reports two CPUs; below two real vCPUs,
    worker processes would only compete with the loading process for a share of one.
    """
    vcpus = memory_mb // 1769
    return vcpus if vcpus >= 2 else 0


def _refuse_secrets(function: str, variables: dict[str, str]) -> dict[str, str]:
    # A function reads its secrets from SSM Parameter Store: its environment, which anyone with
    # lambda:GetFunctionConfiguration can read, only names them (*_PARAMETER).
    suspicious = sorted(k for k in variables if ("PASSWORD" in k or "SECRET" in k) and not k.endswith("_PARAMETER"))
    if suspicious:
        raise RuntimeError(f"the {function} function's environment would hold a secret: {', '.join(suspicious)}")
    return variables


def function_configuration(ctx: Ctx, function: str) -> dict[str, Any]:
    n, s = ctx.names, ctx.state
    name = n.ingest_function if function == "ingest" else n.etl_function
    settings = ctx.cfg.ingest if function == "ingest" else ctx.cfg.etl
    config: dict[str, Any] = {
        "FunctionName": name,
        "Role": s[f"{function}_role_arn"],
        "Handler": HANDLERS[function],
        "Runtime": RUNTIME,
        "MemorySize": settings.memory_mb,
        "Timeout": settings.timeout_seconds,
        "Environment": {"Variables": _refuse_secrets(function, function_environment(ctx, function))},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": n.function_log_group(name)},
    }
    if function == "etl":
        config["VpcConfig"] = {"SubnetIds": [s["private_subnet_2_id"]], "SecurityGroupIds": [s["sg_etl_id"]]}
    return config


def code_sha256(zip_bytes: bytes) -> str:
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


def _configuration_drift(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    drift = []
    for key in ("Role", "Handler", "Runtime", "MemorySize", "Timeout"):
        if current.get(key) != wanted[key]:
            drift.append(key)
    current_env = (current.get("Environment") or {}).get("Variables", {})
    changed = sorted(k for k in set(current_env) | set(wanted["Environment"]["Variables"])
                     if current_env.get(k) != wanted["Environment"]["Variables"].get(k))
    if changed:
        drift.append("Environment(" + ",".join(changed) + ")")  # names only: values may be secret
    if "VpcConfig" in wanted:
        vpc = current.get("VpcConfig") or {}
        if (sorted(vpc.get("SubnetIds", [])) != sorted(wanted["VpcConfig"]["SubnetIds"])
                or sorted(vpc.get("SecurityGroupIds", [])) != sorted(wanted["VpcConfig"]["SecurityGroupIds"])):
            drift.append("VpcConfig")
    return drift


def functions(ctx: Ctx) -> None:
    for function in ("ingest", "etl"):
        wanted = function_configuration(ctx, function)
        name = wanted["FunctionName"]
        zip_bytes = ctx.artifacts.get(function)
        if zip_bytes is None and not ctx.plan_only:
            raise RuntimeError(f"no zip for the {function} function: run scripts/build_lambdas.py")
        try:
            current = ctx.call("lambda", "get_function", FunctionName=name)["Configuration"]
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            current = None
        if current is None:
            size = f", {len(zip_bytes)} bytes" if zip_bytes is not None else ""
            ctx.record("create", "lambda function", name, f"{RUNTIME} {ARCHITECTURE}{size}")
            if not ctx.plan_only:
                arn = ctx.call("lambda", "create_function", iam_propagation=True, **wanted,
                               Code={"ZipFile": zip_bytes}, Architectures=[ARCHITECTURE], PackageType="Zip",
                               Tags=ctx.cfg.tags())["FunctionArn"]
                ctx.clients("lambda").get_waiter("function_active_v2").wait(FunctionName=name,
                                                                            WaiterConfig={"Delay": 2})
                ctx.state[f"{function}_function_arn"] = arn
            else:
                ctx.state[f"{function}_function_arn"] = ctx.arn("lambda", f"function:{name}")
            continue
        ctx.state[f"{function}_function_arn"] = current["FunctionArn"]
        ctx.keep()
        if zip_bytes is not None and current.get("CodeSha256") != code_sha256(zip_bytes):
            ctx.reconcile("update", "lambda function", name, "code",
                          apply=partial(_update_function, ctx, "update_function_code", FunctionName=name,
                                        ZipFile=zip_bytes, Architectures=[ARCHITECTURE]))
        drift = _configuration_drift(current, wanted)
        if drift:
            ctx.reconcile("update", "lambda function", name, ", ".join(drift),
                          apply=partial(_update_function, ctx, "update_function_configuration",
                                        iam_propagation=True, **wanted))
    _etl_async_destination(ctx)


def _update_function(ctx: Ctx, operation: str, *, iam_propagation: bool = False, **kwargs: Any) -> None:
    ctx.call("lambda", operation, iam_propagation=iam_propagation, **kwargs)
    ctx.clients("lambda").get_waiter("function_updated_v2").wait(FunctionName=kwargs["FunctionName"],
                                                                 WaiterConfig={"Delay": 2})


def _etl_async_destination(ctx: Ctx) -> None:
    name, etl = ctx.names.etl_function, ctx.cfg.etl
    wanted = {"MaximumRetryAttempts": etl.max_retry_attempts, "MaximumEventAgeInSeconds": 3600,
              "DestinationConfig": {"OnFailure": {"Destination": ctx.state["etl_failures_queue_arn"]}}}
    current = None
    try:
        current = ctx.call("lambda", "get_function_event_invoke_config", FunctionName=name)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    if current is not None and all(current.get(k) == v for k, v in wanted.items() if k != "DestinationConfig") and (
            current.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            == wanted["DestinationConfig"]["OnFailure"]["Destination"]):
        ctx.keep()
        return
    ctx.reconcile("update" if current else "create", "lambda event-invoke-config", name, "on failure → SQS",
                  apply=lambda: ctx.call("lambda", "put_function_event_invoke_config", iam_propagation=True,
                                         FunctionName=name, **wanted))


def _ensure_permission(ctx: Ctx, function: str, sid: str, principal: str, source_arn: str) -> None:
    name = ctx.state[f"{function}_function_arn"]
    statements: list[dict[str, Any]] = []
    try:
        statements = json.loads(ctx.call("lambda", "get_policy", FunctionName=name)["Policy"])["Statement"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    current = next((s for s in statements if s.get("Sid") == sid), None)
    if current is not None and current.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn") == source_arn:
        ctx.keep()
        return

    def permit() -> None:
        if current is not None:  # a statement's condition cannot be changed in place
            ctx.call("lambda", "remove_permission", FunctionName=name, StatementId=sid)
        ctx.call("lambda", "add_permission", FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction",
                 Principal=principal, SourceArn=source_arn, SourceAccount=ctx.account)

    if current is None:
        ctx.reconcile("create", "lambda permission", f"{function}/{sid}", f"{principal} from {source_arn}",
                      apply=permit)
    else:
        ctx.reconcile("update", "lambda permission", f"{function}/{sid}", source_arn, apply=permit)


# --- HTTP API ----------------------------------------------------------------------------


def http_api(ctx: Ctx) -> None:
    """The ingest API, its Lambda integration, its routes, its $default stage and the invoke permission."""
    found = _api(ctx)
    if found is None:
        return  # a plan of a new API: its integration, routes and stage are part of its creation
    api_id, created = found
    integration_id = _api_integration(ctx, api_id, created)
    if integration_id is None:
        return
    _api_routes(ctx, api_id, f"integrations/{integration_id}", created)
    _api_stage(ctx, api_id, created)
    _api_permission(ctx, api_id)


def _api(ctx: Ctx) -> tuple[str, bool] | None:
    """The API's id and whether this run creates it; None in a plan that would create it."""
    n = ctx.names
    apis = [a for page in ctx.clients("apigatewayv2").get_paginator("get_apis").paginate() for a in page["Items"]]
    mine = [a for a in apis if a["Name"] == n.api and a.get("Tags", {}).get("Project") == ctx.cfg.project
            and a.get("Tags", {}).get("Environment") == ctx.cfg.environment]
    if mine:
        api = mine[0]
        ctx.keep()
        if api.get("CorsConfiguration"):
            ctx.reconcile("update", "apigateway http-api", n.api, "remove API-level CORS (the function answers it)",
                          apply=lambda: ctx.call("apigatewayv2", "delete_cors_configuration", ApiId=api["ApiId"]))
    else:
        ctx.record("create", "apigateway http-api", n.api, " and ".join(route_keys(ctx.cfg.ingest)) + " → ingest")
        if ctx.plan_only:
            ctx.state["api_id"] = ctx.pending("api")
            ctx.state["api_endpoint"] = ctx.pending("api endpoint")
            return None
        api = ctx.call("apigatewayv2", "create_api", Name=n.api, ProtocolType="HTTP", Tags=ctx.cfg.tags(),
                       Description="Clickstream ingest: POST /clickstream")
    ctx.state["api_id"] = api["ApiId"]
    ctx.state["api_endpoint"] = api["ApiEndpoint"]
    return api["ApiId"], not mine


def _api_integration(ctx: Ctx, api_id: str, created: bool) -> str | None:
    """The id of the integration with the ingest function; None in a plan that would create it."""
    function_arn = ctx.state["ingest_function_arn"]
    integrations = ctx.call("apigatewayv2", "get_integrations", ApiId=api_id)["Items"]
    integration = next((i for i in integrations if i.get("IntegrationUri") == function_arn), None)
    if integration is None:
        if not created:
            ctx.record("create", "apigateway integration", ctx.names.api, "ingest, payload 2.0")
        if ctx.plan_only:
            return None
        integration = ctx.call("apigatewayv2", "create_integration", ApiId=api_id, IntegrationType="AWS_PROXY",
                               IntegrationUri=function_arn, PayloadFormatVersion="2.0", TimeoutInMillis=29000)
    return integration["IntegrationId"]


def _api_routes(ctx: Ctx, api_id: str, target: str, created: bool) -> None:
    routes = {r["RouteKey"]: r for r in ctx.call("apigatewayv2", "get_routes", ApiId=api_id)["Items"]}
    wanted = route_keys(ctx.cfg.ingest)
    for route_key in wanted:
        route = routes.get(route_key)
        if route is None:
            if not created:
                ctx.record("create", "apigateway route", route_key)
            if not ctx.plan_only:
                ctx.call("apigatewayv2", "create_route", ApiId=api_id, RouteKey=route_key, Target=target)
        elif route.get("Target") != target:
            ctx.reconcile("update", "apigateway route", route_key, target,
                          apply=partial(ctx.call, "apigatewayv2", "update_route", ApiId=api_id,
                                        RouteId=route["RouteId"], Target=target))
    for route_key, route in routes.items():
        if route_key not in wanted:
            ctx.reconcile("delete", "apigateway route", route_key, "not part of the design",
                          apply=partial(ctx.call, "apigatewayv2", "delete_route", ApiId=api_id,
                                        RouteId=route["RouteId"]))


def _api_stage(ctx: Ctx, api_id: str, created: bool) -> None:
    ingest = ctx.cfg.ingest
    log_group_arn = ctx.arn("logs", f"log-group:{ctx.names.api_log_group}")
    stage_settings = {
        "AutoDeploy": True,
        "DefaultRouteSettings": {"ThrottlingBurstLimit": ingest.throttling_burst_limit,
                                 "ThrottlingRateLimit": ingest.throttling_rate_limit,
                                 "DetailedMetricsEnabled": False},
        "AccessLogSettings": {"DestinationArn": log_group_arn, "Format": ACCESS_LOG_FORMAT},
    }
    try:
        stage = ctx.call("apigatewayv2", "get_stage", ApiId=api_id, StageName="$default")
    except ClientError as exc:
        if error_code(exc) != "NotFoundException":
            raise
        stage = None
    if stage is None:
        if not created:
            ctx.record("create", "apigateway stage", "$default", "auto-deploy, throttling, access logs")
        if not ctx.plan_only:
            ctx.call("apigatewayv2", "create_stage", ApiId=api_id, StageName="$default", Tags=ctx.cfg.tags(),
                     **stage_settings)
        return
    route_settings = stage.get("DefaultRouteSettings", {})
    drift = [k for k in ("ThrottlingBurstLimit", "ThrottlingRateLimit")
             if route_settings.get(k) != stage_settings["DefaultRouteSettings"][k]]
    if not stage.get("AutoDeploy"):
        drift.append("AutoDeploy")
    if stage.get("AccessLogSettings") != stage_settings["AccessLogSettings"]:
        drift.append("AccessLogSettings")
    if drift:
        ctx.reconcile("update", "apigateway stage", "$default", ", ".join(drift),
                      apply=lambda: ctx.call("apigatewayv2", "update_stage", ApiId=api_id, StageName="$default",
                                             **stage_settings))


def _api_permission(ctx: Ctx, api_id: str) -> None:
    # Invocations through this API's /clickstream routes only, any stage and method.
    _ensure_permission(ctx, "ingest", "http-api-clickstream", "apigateway.amazonaws.com",
                       ctx.arn("execute-api", f"{api_id}/*/*/clickstream"))


# --- schedule and alarms -----------------------------------------------------------------


def etl_schedule(ctx: Ctx) -> None:
    n, schedule = ctx.names, ctx.cfg.etl.schedule
    rule_arn = ctx.arn("events", f"rule/{n.etl_rule}")
    try:
        rule = ctx.call("events", "describe_rule", Name=n.etl_rule)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        rule = None
    rule_changed = rule is None or rule.get("ScheduleExpression") != schedule or rule.get("State") != "ENABLED"
    if rule is None:
        ctx.record("create", "events rule", n.etl_rule, schedule)
    elif rule_changed:
        ctx.record("update", "events rule", n.etl_rule, schedule)
    else:
        ctx.keep()
    if not ctx.plan_only and rule_changed:
        rule_arn = ctx.call("events", "put_rule", Name=n.etl_rule, ScheduleExpression=schedule, State="ENABLED",
                            Description=f"Runs {n.etl_function}", Tags=ctx.tag_list())["RuleArn"]
    ctx.state["etl_rule_arn"] = rule_arn
    function_arn = ctx.state["etl_function_arn"]
    targets = [] if rule is None else ctx.call("events", "list_targets_by_rule", Rule=n.etl_rule)["Targets"]
    if [t["Arn"] for t in targets] != [function_arn]:
        if rule is not None:
            ctx.record("update", "events rule", n.etl_rule, f"target {n.etl_function}")
        if not ctx.plan_only:
            stale = [t["Id"] for t in targets if t["Arn"] != function_arn]
            if stale:
                ctx.call("events", "remove_targets", Rule=n.etl_rule, Ids=stale)
            ctx.call("events", "put_targets", Rule=n.etl_rule, Targets=[{"Id": "etl", "Arn": function_arn}])
    _ensure_permission(ctx, "etl", "events-etl-schedule", "events.amazonaws.com", rule_arn)


def alarm_specs(ctx: Ctx) -> list[dict[str, Any]]:
    n, obs = ctx.names, ctx.cfg.observability
    # The deployment's own topic (monitoring.alarm_topic) first, then any extra ARNs configured.
    actions = list(dict.fromkeys([ctx.arn("sns", n.alarm_topic), *obs.alarm_actions]))
    common = {"ActionsEnabled": True, "AlarmActions": actions, "OKActions": actions,
              "EvaluationPeriods": 1, "DatapointsToAlarm": 1}
    return [
        {**common, "AlarmName": n.alarm_etl_errors, "AlarmDescription": "The ETL Lambda raised errors",
         "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 1800,
         "Dimensions": [{"Name": "FunctionName", "Value": n.etl_function}], "Threshold": 1.0,
         "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"},
        {**common, "AlarmName": n.alarm_etl_failures,
         "AlarmDescription": "ETL invocations failed after retries (on-failure queue)",
         "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
         "Period": 300, "Dimensions": [{"Name": "QueueName", "Value": n.etl_failures_queue}], "Threshold": 1.0,
         "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"},
        {**common, "AlarmName": n.alarm_ingest_5xx, "AlarmDescription": "The ingest API answered 5xx",
         "Namespace": "AWS/ApiGateway", "MetricName": "5xx", "Statistic": "Sum", "Period": 300,
         "Dimensions": [{"Name": "ApiId", "Value": ctx.state.get("api_id", "")},
                        {"Name": "Stage", "Value": "$default"}],
         "Threshold": 5.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"},
        # Missing data is breaching: no lag metric means the ETL is not running at all.
        {**common, "AlarmName": n.alarm_etl_lag, "AlarmDescription": "Newest loaded event is older than allowed",
         "Namespace": LAG_METRIC[0], "MetricName": LAG_METRIC[1], "Statistic": "Maximum", "Period": 1800,
         "Dimensions": [{"Name": "Function", "Value": "etl"}], "Threshold": float(ctx.cfg.etl.lag_alarm_seconds),
         "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "breaching", "EvaluationPeriods": 2,
         "DatapointsToAlarm": 2},
    ]


def alarms(ctx: Ctx) -> None:
    specs = alarm_specs(ctx)
    current = {a["AlarmName"]: a for a in ctx.call("cloudwatch", "describe_alarms",
                                                     AlarmNames=[s["AlarmName"] for s in specs])["MetricAlarms"]}
    for spec in specs:
        existing = current.get(spec["AlarmName"])
        if existing is None:
            action, detail = "create", spec["MetricName"]
        else:
            drift = [k for k, v in spec.items() if k not in {"Dimensions"} and existing.get(k) != v]
            if sorted(existing.get("Dimensions", []), key=lambda d: d["Name"]) != sorted(
                    spec["Dimensions"], key=lambda d: d["Name"]):
                drift.append("Dimensions")
            if not drift:
                ctx.keep()
                continue
            action, detail = "update", ", ".join(drift)
        ctx.reconcile(action, "cloudwatch alarm", spec["AlarmName"], detail,
                      apply=partial(ctx.call, "cloudwatch", "put_metric_alarm", **spec, Tags=ctx.tag_list()))
