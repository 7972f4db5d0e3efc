"""Alarms reach someone: the SNS topic (its key, policy and subscriptions), the alarm actions,
the pipeline dashboard (checked against the metrics the code really emits), teardown, the plan."""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import io
import json

import pytest
from botocore.stub import Stubber

from tests.provision.conftest import EXAMPLE, ROOT, fast_retrier, stubbed_ctx
from toolkit.provision import cli, config, monitoring, run, serverless
from toolkit.provision.aws import Clients
from toolkit.provision.config import ConfigError
from toolkit.provision.engine import Ctx

ACCOUNT = "123456789012"  # moto's
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:clickstream-dev-alarms"
ONCALL = f"arn:aws:sns:eu-west-1:{ACCOUNT}:oncall-pager"
LAMBDAS = ROOT / "lambdas"


def with_observability(cfg: config.Config, **fields) -> config.Config:
    return config.validate(dataclasses.replace(cfg, observability=dataclasses.replace(cfg.observability, **fields)))


def clients(cfg: config.Config) -> Clients:
    return Clients(cfg.region, emulator=True)


# --- alarms → topic --------------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_every_alarm_notifies_the_deployment_topic_on_alarm_and_on_ok(cfg, artifacts):
    configured = with_observability(cfg, alarm_actions=(ONCALL,), alarm_email=("ops@example.com",))
    c = clients(cfg)
    result = run.apply(configured, c, artifacts, retrier=fast_retrier())
    alarms = c("cloudwatch").describe_alarms()["MetricAlarms"]
    assert len(alarms) == 4
    for alarm in alarms:
        assert alarm["AlarmActions"] == [TOPIC, ONCALL], alarm["AlarmName"]
        assert alarm["OKActions"] == [TOPIC, ONCALL], alarm["AlarmName"]
        assert alarm["ActionsEnabled"] is True
    assert result.state["alarm_topic_arn"] == TOPIC
    assert run.outputs(configured, c)["alarm_topic_arn"] == TOPIC


@pytest.mark.usefixtures("aws")
def test_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_only_this_accounts_alarms_publish(cfg, artifacts):
    c = clients(cfg)
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    attributes = c("sns").get_topic_attributes(TopicArn=TOPIC)["Attributes"]
    key = c("kms").describe_key(KeyId="alias/clickstream-dev-alarms")["KeyMetadata"]
    # Not alias/aws/sns: CloudWatch cannot use the AWS managed key, so alarms could never publish.
    assert attributes["KmsMasterKeyId"] == key["Arn"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    assert c("kms").get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True

    source = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:clickstream-dev-*"
    conditions = {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": source}}
    [publish] = json.loads(attributes["Policy"])["Statement"]
    assert publish == {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                       "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                       "Resource": TOPIC, "Condition": conditions}
    statements = json.loads(c("kms").get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])["Statement"]
    service = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert service == [{"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*", "Condition": conditions}]
    # Every alarm provisioning creates is one the conditions admit.
    for alarm in c("cloudwatch").describe_alarms()["MetricAlarms"]:
        assert fnmatch.fnmatchcase(alarm["AlarmArn"], source), alarm["AlarmArn"]


@pytest.mark.usefixtures("aws")
def test_drifted_topic_and_key_are_repaired_and_a_key_pending_deletion_is_recovered(cfg, artifacts):
    c = clients(cfg)
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    key_id = c("kms").describe_key(KeyId="alias/clickstream-dev-alarms")["KeyMetadata"]["KeyId"]
    open_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                           "Action": "sns:Publish", "Resource": TOPIC}]}
    c("sns").set_topic_attributes(TopicArn=TOPIC, AttributeName="Policy", AttributeValue=json.dumps(open_policy))
    c("kms").disable_key_rotation(KeyId=key_id)
    planned = {ch.line() for ch in run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes}
    assert planned == {"~ sns topic clickstream-dev-alarms (Policy)",
                       "~ kms key alias/clickstream-dev-alarms (enable rotation)"}
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    assert run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes == []

    c("kms").schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    planned = [ch.line() for ch in run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes]
    assert planned == ["~ kms key alias/clickstream-dev-alarms (cancel the scheduled deletion)"]
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    assert c("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes == []


# --- subscriptions ---------------------------------------------------------------------------


def subscribed(c: Clients) -> set[tuple[str, str]]:
    return {(s["Protocol"], s["Endpoint"])
            for s in c("sns").list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]}


@pytest.mark.usefixtures("aws")
def test_subscriptions_follow_the_configuration(cfg, artifacts):
    c = clients(cfg)
    first = with_observability(cfg, alarm_email=("ana@example.com", "ben@example.com"),
                               alarm_https_endpoints=("https://hooks.example.com/alarms",))
    run.apply(first, c, artifacts, retrier=fast_retrier())
    assert subscribed(c) == {("email", "ana@example.com"), ("email", "ben@example.com"),
                             ("https", "https://hooks.example.com/alarms")}
    # A queue someone subscribed by hand is not the configuration's to remove.
    queue = c("sqs").create_queue(QueueName="audit")["QueueUrl"]
    queue_arn = c("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    c("sns").subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=queue_arn)

    second = with_observability(cfg, alarm_email=("BEN@example.com", "cleo@example.com"))
    planned = run.plan(second, c, artifacts, retrier=fast_retrier())
    assert {ch.line() for ch in planned.changes} == {
        "+ sns subscription email cleo@example.com (until confirmed by its recipient)",
        "- sns subscription email ana@example.com (no longer configured)",
        "- sns subscription https https://hooks.example.com/alarms (no longer configured)"}
    applied = run.apply(second, c, artifacts, retrier=fast_retrier())
    assert [ch.line() for ch in applied.changes] == [ch.line() for ch in planned.changes]
    assert subscribed(c) == {("email", "ben@example.com"), ("email", "cleo@example.com"), ("sqs", queue_arn)}
    again = run.apply(second, c, artifacts, retrier=fast_retrier())
    assert again.changes == []
    assert any("left the sqs subscription" in note for note in again.notes)


def stubbed_sns(cfg: config.Config) -> tuple[Ctx, Stubber]:
    ctx, stub = stubbed_ctx(cfg, "sns", ACCOUNT)
    ctx.state["alarm_topic_arn"] = TOPIC
    return ctx, stub


def test_subscriptions_awaiting_confirmation_are_neither_resent_nor_deleted(cfg):
    configured = with_observability(cfg, alarm_email=("ops@example.com",))
    ctx, stub = stubbed_sns(configured)
    stub.add_response("list_subscriptions_by_topic", {"Subscriptions": [
        # SNS lists an unconfirmed subscription without its ARN.
        {"SubscriptionArn": "PendingConfirmation", "Owner": ACCOUNT, "Protocol": "email",
         "Endpoint": "Ops@Example.com", "TopicArn": TOPIC},
        {"SubscriptionArn": "PendingConfirmation", "Owner": ACCOUNT, "Protocol": "email",
         "Endpoint": "gone@example.com", "TopicArn": TOPIC},
    ]}, {"TopicArn": TOPIC})
    monitoring.subscriptions(ctx)  # any subscribe or unsubscribe call would fail the stub
    stub.assert_no_pending_responses()
    assert ctx.changes == [] and ctx.unchanged == 1
    assert any("Ops@Example.com" not in n and "ops@example.com awaits confirmation" in n for n in ctx.reporter.notes)
    assert any("gone@example.com is no longer configured but awaits confirmation" in n for n in ctx.reporter.notes)


def test_a_new_subscription_is_requested_once_with_its_arn(cfg):
    configured = with_observability(cfg, alarm_https_endpoints=("https://hooks.example.com/a",))
    ctx, stub = stubbed_sns(configured)
    stub.add_response("list_subscriptions_by_topic", {"Subscriptions": []}, {"TopicArn": TOPIC})
    stub.add_response("subscribe", {"SubscriptionArn": f"{TOPIC}:1234"},
                      {"TopicArn": TOPIC, "Protocol": "https", "Endpoint": "https://hooks.example.com/a",
                       "ReturnSubscriptionArn": True})
    monitoring.subscriptions(ctx)
    stub.assert_no_pending_responses()
    assert [c.line() for c in ctx.changes] == [
        "+ sns subscription https https://hooks.example.com/a (until confirmed by its recipient)"]


def test_alarms_that_notify_nobody_are_reported(cfg):
    ctx, stub = stubbed_sns(cfg)
    stub.add_response("list_subscriptions_by_topic", {"Subscriptions": []}, {"TopicArn": TOPIC})
    monitoring.subscriptions(ctx)
    assert ctx.reporter.notes == ["the alarms notify nobody: set observability.alarm_email or alarm_https_endpoints"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("alarm_email", ["ops"], "observability.alarm_email[0]: not an email address"),
    ("alarm_email", ["a@example.com", "A@example.com"], "observability.alarm_email[1]: A@example.com is listed twice"),
    ("alarm_https_endpoints", ["http://hooks.example.com/x"], "observability.alarm_https_endpoints[0]: expected an"),
    ("alarm_https_endpoints", ["https://"], "observability.alarm_https_endpoints[0]: expected an https:// URL"),
    ("alarm_actions", ["arn:aws:sns:us-east-1:123456789012:pager"],
     "observability.alarm_actions[0]: an SNS topic of us-east-1"),
    ("dashboard", "yes", "observability.dashboard: expected true or false"),
])
def test_invalid_observability_fields_are_named(field, value, message):
    import yaml

    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["observability"][field] = value
    with pytest.raises(ConfigError) as caught:
        config.parse(raw)
    assert str(caught.value).startswith(message)


def test_the_example_documents_the_new_fields():
    cfg = config.load(EXAMPLE)
    assert cfg.observability.alarm_email == () and cfg.observability.alarm_https_endpoints == ()
    assert cfg.observability.dashboard is True and cfg.network.flow_logs is False
    text = EXAMPLE.read_text()
    assert "alarm_email:" in text and "alarm_https_endpoints:" in text and "flow_logs:" in text


# --- the dashboard against what the code emits ------------------------------------------------


def _literal_keys(node: ast.AST) -> set[str]:
    return {k.value for k in node.keys if isinstance(k, ast.Constant)} if isinstance(node, ast.Dict) else set()


def emitted_metrics() -> set[tuple[str, str, frozenset]]:
    """(namespace, metric, dimensions) of every emf_block(...) call under lambdas/, read from the
    source: the metrics dict (a literal, or a variable built from one plus `name["X"] = ...`),
    the dimensions literal and the namespace (the keyword or observability.METRICS_NAMESPACE)."""
    observability = ast.parse((LAMBDAS / "clickstream_common" / "observability.py").read_text())
    default_ns = next(node.value.value for node in observability.body if isinstance(node, ast.Assign)
                      and any(getattr(t, "id", "") == "METRICS_NAMESPACE" for t in node.targets))
    found = set()
    for path in LAMBDAS.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", ""))
                        == "emf_block"):
                    continue
                metrics_node, dims_node = call.args[0], call.args[1]
                names = _literal_keys(metrics_node)
                if isinstance(metrics_node, ast.Name):
                    for node in ast.walk(function):
                        if isinstance(node, ast.Assign):
                            for target in node.targets:
                                if getattr(target, "id", None) == metrics_node.id:
                                    names |= _literal_keys(node.value)
                                if (isinstance(target, ast.Subscript) and getattr(target.value, "id", None)
                                        == metrics_node.id and isinstance(target.slice, ast.Constant)):
                                    names.add(target.slice.value)
                dimensions = frozenset(ast.literal_eval(dims_node).items())
                namespace = next((ast.literal_eval(k.value) for k in call.keywords if k.arg == "namespace"),
                                 default_ns)
                found |= {(namespace, name, dimensions) for name in names}
    return found


# Metrics AWS publishes for the resources provisioned, with the dimensions they carry.
AWS_METRICS = {
    "AWS/ApiGateway": ({"Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed"}, {"ApiId", "Stage"}),
    "AWS/Lambda": ({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}, {"FunctionName"}),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent"},
                {"QueueName"}),
}


def unknown_metrics(body: dict, emitted: set, real_dimension_values: dict[str, set[str]]) -> list[str]:
    problems = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            fields = [f for f in row if not isinstance(f, dict)]
            if len(fields) < 2 or len(fields) % 2 or any(f in {".", "..."} for f in fields):
                problems.append(f"{row}: not a full [namespace, metric, name, value...] row")
                continue
            namespace, name, pairs = fields[0], fields[1], fields[2:]
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            if namespace.startswith("AWS/"):
                names, keys = AWS_METRICS.get(namespace, (set(), set()))
                if name not in names or set(dimensions) != keys:
                    problems.append(f"{namespace} {name} {dimensions}: not an AWS metric of these resources")
                for key, value in dimensions.items():
                    if value not in real_dimension_values.get(key, set()):
                        problems.append(f"{namespace} {name}: {key}={value} is no provisioned resource")
            elif (namespace, name, frozenset(dimensions.items())) not in emitted:
                problems.append(f"{namespace} {name} {dimensions}: emitted by no emf_block in lambdas/")
    return problems


def test_the_emitter_parser_sees_the_handlers():
    emitted = emitted_metrics()
    ingest, etl = frozenset({("Function", "ingest")}), frozenset({("Function", "etl")})
    assert {("Clickstream", "EventsAccepted", ingest), ("Clickstream", "EventsRejected", ingest),
            ("Clickstream", "RunDuration", etl), ("Clickstream", "EventsLoaded", etl),
            ("Clickstream", "ObjectsSkipped", etl),
            (*serverless.LAG_METRIC, etl)} <= emitted


@pytest.mark.usefixtures("aws")
def test_dashboard_drift_is_repaired_and_turning_it_off_deletes_it(cfg, artifacts):
    c = clients(cfg)
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    c("cloudwatch").put_dashboard(DashboardName="clickstream-dev-pipeline", DashboardBody='{"widgets": []}')
    assert [ch.line() for ch in run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes] == [
        "~ cloudwatch dashboard clickstream-dev-pipeline (widgets)"]
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    assert run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes == []
    off = with_observability(cfg, dashboard=False)
    result = run.apply(off, c, artifacts, retrier=fast_retrier())
    assert [ch.line() for ch in result.changes] == [
        "- cloudwatch dashboard clickstream-dev-pipeline (observability.dashboard is off)"]
    assert c("cloudwatch").list_dashboards()["DashboardEntries"] == []


# --- plan and teardown -----------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_plan_on_the_command_line_shows_the_topic_key_subscriptions_and_dashboard(tmp_path, artifacts, monkeypatch):
    import yaml
    from rich.console import Console

    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["observability"].update(alarm_email=["ops@example.com"], alarm_https_endpoints=["https://hooks.example.com/a"])
    path = tmp_path / "env.yml"
    path.write_text(yaml.safe_dump(raw))
    zips = tmp_path / "zips"
    zips.mkdir()
    for name, data in artifacts.items():
        (zips / f"{name}.zip").write_bytes(data)
    # The command's own console, into a buffer (rich's live display does not mix with capsys).
    shown = io.StringIO()
    monkeypatch.setattr(cli, "Console", lambda **_: Console(file=shown, soft_wrap=True, width=200))
    assert cli.main(["plan", "--config", str(path), "--artifacts", str(zips)], clients=clients(config.load(path))) == 0
    for line in ("+ kms key alias/clickstream-dev-alarms",
                 "+ sns topic clickstream-dev-alarms (encrypted with alias/clickstream-dev-alarms",
                 "+ sns subscription email ops@example.com", "+ sns subscription https https://hooks.example.com/a",
                 "+ cloudwatch alarm clickstream-dev-etl-lag",
                 "+ cloudwatch dashboard clickstream-dev-pipeline (12 widgets)"):
        assert line in shown.getvalue()


@pytest.mark.usefixtures("aws")
def test_destroy_removes_subscriptions_topic_dashboard_and_schedules_the_key(cfg, artifacts):
    configured = with_observability(cfg, alarm_email=("ops@example.com",))
    c = clients(cfg)
    run.apply(configured, c, artifacts, retrier=fast_retrier())
    key_id = c("kms").describe_key(KeyId="alias/clickstream-dev-alarms")["KeyMetadata"]["KeyId"]
    result = run.destroy(configured, c, delete_data=True, retrier=fast_retrier())
    lines = [ch.line() for ch in result.changes]
    expected = ["- cloudwatch dashboard clickstream-dev-pipeline", "- sns subscription email ops@example.com",
                "- sns topic clickstream-dev-alarms",
                "- kms key alias/clickstream-dev-alarms (deleted by KMS after 7 days)"]
    assert [line for line in lines if line in expected] == expected
    assert lines.index(expected[-1]) < lines.index("- lambda function clickstream-dev-ingest")
    assert c("sns").list_topics()["Topics"] == [] and c("sns").list_subscriptions()["Subscriptions"] == []
    assert c("cloudwatch").list_dashboards()["DashboardEntries"] == []
    assert c("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert "alias/clickstream-dev-alarms" not in {a["AliasName"] for a in c("kms").list_aliases()["Aliases"]}
    assert run.destroy(configured, c, delete_data=True, retrier=fast_retrier()).changes == []
    # A new apply starts over with a new key.
    run.apply(configured, c, artifacts, retrier=fast_retrier())
    assert c("kms").describe_key(KeyId="alias/clickstream-dev-alarms")["KeyMetadata"]["KeyId"] != key_id


# --- on the shared deployment (module scope: these run last, after the fresh-account tests) ----


@pytest.fixture(scope="module")
def applied(deployed, cfg):
    c, result = deployed
    body = json.loads(c("cloudwatch").get_dashboard(DashboardName="clickstream-dev-pipeline")["DashboardBody"])
    real = {"ApiId": {result.state["api_id"]}, "Stage": {"$default"},
            "FunctionName": {f["FunctionName"] for f in c("lambda").list_functions()["Functions"]},
            "QueueName": {u.rsplit("/", 1)[-1] for u in c("sqs").list_queues()["QueueUrls"]}}
    return c, result, body, real


def test_every_dashboard_metric_is_one_aws_or_our_code_emits(applied):
    _, _, body, real = applied
    rows = [row for w in body["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]
    assert len(rows) >= 15
    assert unknown_metrics(body, emitted_metrics(), real) == []


def test_the_checker_catches_an_invented_metric_a_wrong_dimension_and_a_stale_name(applied):
    _, _, body, real = applied
    broken = json.loads(json.dumps(body))
    graph = next(w for w in broken["widgets"] if w["type"] == "metric")
    graph["properties"]["metrics"] = [["Clickstream", "EventsLost", "Function", "ingest"],
                                      ["Clickstream", "EventsAccepted", "Function", "etl"],
                                      ["AWS/Lambda", "Errors", "FunctionName", "clickstream-dev-old"],
                                      ["AWS/ApiGateway", "Count", "ApiId", "abc"]]
    problems = unknown_metrics(broken, emitted_metrics(), real)
    assert len(problems) == 5, problems


def test_dashboard_covers_the_pipeline_and_alarm_metrics_are_emitted(applied, cfg):
    c, _, body, _ = applied
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    for words in ("requests", "4xx / 5xx", "Ingest Lambda errors", "Ingest Lambda duration", "accepted / rejected",
                  "ETL run duration", "lag", "Events loaded", "DLQ"):
        assert any(words in t for t in titles), words
    [alarm_widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        a["AlarmArn"] for a in c("cloudwatch").describe_alarms()["MetricAlarms"])
    lag = next(w for w in body["widgets"] if "lag" in w["properties"].get("title", ""))
    assert lag["properties"]["annotations"]["horizontal"][0]["value"] == cfg.etl.lag_alarm_seconds
    # The alarms on our own namespace watch metrics the code emits too.
    emitted = emitted_metrics()
    for alarm in c("cloudwatch").describe_alarms()["MetricAlarms"]:
        if not alarm["Namespace"].startswith("AWS/"):
            key = (alarm["Namespace"], alarm["MetricName"],
                   frozenset((d["Name"], d["Value"]) for d in alarm["Dimensions"]))
            assert key in emitted, alarm["AlarmName"]
    assert run.outputs(cfg, c)["dashboard_url"].endswith("#dashboards/dashboard/clickstream-dev-pipeline")
