"""Secrets on AWS, applied to moto: which role reads which SSM parameter (moto's IAM enforcement
with assumed-role credentials), and that no Lambda environment, output or plan holds the
warehouse password, nor does provisioning read it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from etl.page_paths import DEFAULT_RULE
from etl.settings import DEFAULT_LOOKBACK_HOURS, Settings
from moto.core import enable_iam_authentication
from moto.ssm.responses import SimpleSystemManagerResponse

from tests.provision.conftest import fast_retrier
from toolkit.provision import config, policies, run, serverless
from toolkit.provision.aws import Clients
from toolkit.provision.engine import Ctx

pytestmark = pytest.mark.usefixtures("deployed")
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "/clickstream/dev/dw/etl_password"
CA = "/clickstream/dev/tls/ca_cert"
OTHER = "/clickstream/dev/something/else"
ROLES = {"etl": "clickstream-dev-etl-lambda", "ec2": "clickstream-dev-ec2-host",
         "ingest": "clickstream-dev-ingest-lambda"}
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"  # only the read matters here


def _parameter_resource(self) -> str:
    # AWS authorizes ssm:GetParameter against the parameter's ARN; moto passes "*" for every SSM
    # call, which no statement scoped to a parameter would ever match. Give moto the real ARN.
    name = self._get_param("Name")
    if not name:
        return "*"
    return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter/{name.lstrip('/')}"


def _password(deployed) -> str:
    return deployed[0]("ssm").get_parameter(Name=PASSWORD, WithDecryption=True)["Parameter"]["Value"]


def _assumed_ssm(deployed, role: str):
    arn = f"arn:aws:iam::{deployed[0].account_id}:role/{ROLES[role]}"
    credentials = deployed[0]("sts").assume_role(RoleArn=arn, RoleSessionName="secrets-test")["Credentials"]
    return boto3.client("ssm", region_name="eu-west-1", aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def _reads(client, name: str) -> bool:
    try:
        client.get_parameter(Name=name, WithDecryption=True)
        return True
    except ClientError as exc:
        # moto answers a JSON-protocol call with an XML error: botocore sees code "403".
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and "not authorized" in str(exc):
            return False
        raise


def _policy(deployed, role: str) -> dict:
    return deployed[0]("iam").get_role_policy(RoleName=ROLES[role], PolicyName="least-privilege")["PolicyDocument"]


def _listed(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def test_each_role_reads_exactly_its_parameters(deployed, monkeypatch):
    ssm = deployed[0]("ssm")
    # What the Ansible roles publish (the CA), and a parameter nobody was granted.
    ssm.put_parameter(Name=CA, Type="String", Value=PEM, Overwrite=True)
    ssm.put_parameter(Name=OTHER, Type="SecureString", Value="not-for-anyone", Overwrite=True)
    clients = {role: _assumed_ssm(deployed, role) for role in ROLES}
    monkeypatch.setattr(SimpleSystemManagerResponse, "_determine_resource", _parameter_resource, raising=False)
    with enable_iam_authentication():
        readable = {(role, name) for role, client in clients.items() for name in (PASSWORD, CA, OTHER)
                    if _reads(client, name)}
    assert readable == {("etl", PASSWORD), ("etl", CA), ("ec2", CA)}


def test_the_etl_decrypts_with_the_ssm_key_and_only_through_ssm(deployed):
    key_arn = deployed[0]("kms").describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["Arn"]
    account = deployed[0].account_id
    statements = _policy(deployed, "etl")["Statement"]
    assert [s for s in statements if any(a.startswith("kms:") for a in _listed(s["Action"]))] == [
        {"Sid": "DecryptWarehousePassword", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}}}]
    [read] = [s for s in statements if any(a.startswith("ssm:") for a in _listed(s["Action"]))]
    assert read["Action"] == "ssm:GetParameter" and "Condition" not in read
    assert sorted(read["Resource"]) == [f"arn:aws:ssm:eu-west-1:{account}:parameter{p}" for p in (PASSWORD, CA)]
    for role in ("ec2", "ingest"):
        assert not [s for s in _policy(deployed, role)["Statement"]
                    if any(a.startswith("kms:") for a in _listed(s["Action"]))], role


def test_the_hosts_run_the_ssm_agent_without_the_managed_policy_and_read_no_secret(deployed):
    iam, account = deployed[0]("iam"), deployed[0].account_id
    assert iam.list_attached_role_policies(RoleName=ROLES["ec2"])["AttachedPolicies"] == []
    statements = _policy(deployed, "ec2")["Statement"]
    grants = {(a, r) for s in statements for a in _listed(s["Action"]) for r in _listed(s["Resource"])}
    actions = {a for a, _ in grants}
    # Session Manager, and so Ansible's aws_ssm connection: registration and the session channels.
    assert {"ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"} <= actions
    # Of Parameter Store, the CA certificate only.
    reads = {(a, r) for a, r in grants if a.startswith(("ssm:GetParameter", "kms:"))}
    assert reads == {("ssm:GetParameter", f"arn:aws:ssm:eu-west-1:{account}:parameter{CA}")}
    assert not any("*" in a for a in actions)
    # "*" only where IAM knows no resource type for the action.
    assert {a for a, r in grants if r == "*"} == {*policies.SSM_AGENT_UNSCOPED_ACTIONS, *policies.SSM_SESSION_ACTIONS,
                                                  *policies.SSM_MESSAGE_ACTIONS}
    instance_scoped = {a for a, r in grants if r == f"arn:aws:ec2:eu-west-1:{account}:instance/*"}
    assert set(policies.SSM_AGENT_INSTANCE_ACTIONS) <= instance_scoped


def test_no_lambda_environment_holds_the_password(deployed):
    lam, password = deployed[0]("lambda"), _password(deployed)
    for function in ("clickstream-dev-ingest", "clickstream-dev-etl"):
        env = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        assert password not in json.dumps(env), function
        assert [k for k in env if "PASSWORD" in k and not k.endswith("_PARAMETER")] == [], function
    etl = lam.get_function_configuration(FunctionName="clickstream-dev-etl")["Environment"]["Variables"]
    assert (etl["DW_PG_PASSWORD_PARAMETER"], etl["DW_PG_SSL_ROOT_CERT_PARAMETER"], etl["DW_PG_SSL"]) == (
        PASSWORD, CA, "verify-full")


def test_a_secret_in_a_function_environment_is_refused(cfg, monkeypatch):
    ctx = Ctx(cfg=cfg, clients=SimpleNamespace(account_id="123456789012", partition="aws"),
              state={"ingest_role_arn": "arn:aws:iam::123456789012:role/r"})
    monkeypatch.setattr(serverless, "function_environment", lambda ctx, function: {"DW_PG_PASSWORD": "x"})
    with pytest.raises(RuntimeError, match="environment would hold a secret: DW_PG_PASSWORD"):
        serverless.function_configuration(ctx, "ingest")


def test_the_password_parameter_is_the_one_ansible_sets_on_the_login(cfg):
    # roles/secrets (ssm backend) reads <secrets_ssm_prefix>/<dw_etl_password_secret>.
    everyone = yaml.safe_load((REPO / "inventory/group_vars/all.yml").read_text())
    dw = yaml.safe_load((REPO / "inventory/group_vars/dw.yml").read_text())
    prefix = everyone["secrets_ssm_prefix"].replace("{{ clickstream_project }}", cfg.project).replace(
        "{{ clickstream_environment }}", cfg.environment)
    assert f"{prefix}/{dw['dw_etl_password_secret']}" == PASSWORD


class RecordingClients(Clients):
    """Clients that keep every API call with its parameters."""

    def __init__(self, region: str):
        session = boto3.session.Session(region_name=region)
        super().__init__(region, session=session, emulator=True)
        self.calls: list[tuple[str, str, dict]] = []
        session._session.register("provide-client-params", self._record)

    def _record(self, params, model, **_kwargs):
        self.calls.append((model.service_model.service_name, model.name, dict(params)))


def test_provisioning_never_reads_or_shows_the_password(deployed, cfg, artifacts):
    password = _password(deployed)
    clients = RecordingClients(cfg.region)
    applied = run.apply(cfg, clients, artifacts, retrier=fast_retrier())
    planned = run.plan(cfg, clients, artifacts, retrier=fast_retrier())
    outputs = run.outputs(cfg, clients)
    decrypting = [(service, op) for service, op, params in clients.calls
                  if op.startswith("GetParameter") and params.get("WithDecryption")]
    assert decrypting == []
    shown = json.dumps([outputs, [c.line() for r in (applied, planned) for c in r.changes], applied.notes,
                        planned.notes, applied.state, planned.state], default=str)
    assert password not in shown


def test_the_etl_gets_the_48_hour_lookback_that_config_and_the_function_share(deployed, cfg):
    env = deployed[0]("lambda").get_function_configuration(FunctionName="clickstream-dev-etl")["Environment"]
    assert env["Variables"]["ETL_LOOKBACK_HOURS"] == "48"
    assert config.Etl().lookback_hours == cfg.etl.lookback_hours == DEFAULT_LOOKBACK_HOURS == 48
    minimal = {"RAW_BUCKET_NAME": "b", "DW_PG_HOST": "h", "DW_PG_USER": "u", "DW_PG_DATABASE": "d"}
    assert Settings.from_env(minimal).lookback == timedelta(hours=DEFAULT_LOOKBACK_HOURS)


def test_the_etl_gets_the_page_path_rule_and_store_currency_of_the_config(deployed, cfg):
    env = deployed[0]("lambda").get_function_configuration(FunctionName="clickstream-dev-etl")["Environment"]
    minimal = {"RAW_BUCKET_NAME": "b", "DW_PG_HOST": "h", "DW_PG_USER": "u", "DW_PG_DATABASE": "d"}
    settings = Settings.from_env({**minimal, **env["Variables"]})
    assert settings.store_currency == cfg.etl.store_currency == "EUR"
    # The example spells out the ETL's default rule, and the config's defaults are the ETL's.
    assert settings.page_path_rule == config.page_path_rule(cfg.etl) == DEFAULT_RULE
    assert config.page_path_rule(config.Etl()) == DEFAULT_RULE
    assert settings.attribution_lookback_days == cfg.etl.attribution_lookback_days == 30


def test_an_older_deployment_loses_the_plaintext_password_and_the_managed_policy(deployed, cfg, artifacts):
    # Last in this module: it changes the shared deployment, and apply repairs it.
    c, password = deployed[0], _password(deployed)
    managed = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    c("iam").attach_role_policy(RoleName=ROLES["ec2"], PolicyArn=managed)
    lam = c("lambda")
    old = lam.get_function_configuration(FunctionName="clickstream-dev-etl")["Environment"]["Variables"]
    old = {k: v for k, v in old.items() if not k.endswith("_PARAMETER")} | {"DW_PG_PASSWORD": password,
                                                                             "DW_PG_SSL": "require"}
    lam.update_function_configuration(FunctionName="clickstream-dev-etl", Environment={"Variables": old})
    planned = {ch.line() for ch in run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes}
    assert planned == {
        f"~ iam role clickstream-dev-ec2-host (detach {managed})",
        "~ lambda function clickstream-dev-etl (Environment(DW_PG_PASSWORD,DW_PG_PASSWORD_PARAMETER,DW_PG_SSL,"
        "DW_PG_SSL_ROOT_CERT_PARAMETER))",
    }
    run.apply(cfg, c, artifacts, retrier=fast_retrier())
    assert c("iam").list_attached_role_policies(RoleName=ROLES["ec2"])["AttachedPolicies"] == []
    env = lam.get_function_configuration(FunctionName="clickstream-dev-etl")["Environment"]["Variables"]
    assert "DW_PG_PASSWORD" not in env and password not in json.dumps(env)
    assert run.plan(cfg, c, artifacts, retrier=fast_retrier()).changes == []
