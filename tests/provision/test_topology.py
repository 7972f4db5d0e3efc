"""The example configuration applied to moto: every piece of the seed's architecture, exactly."""

from __future__ import annotations

import base64
import json

import pytest

from toolkit.provision import run, serverless

pytestmark = pytest.mark.usefixtures("deployed")


def ec2(deployed):
    return deployed[0]("ec2")


def by_name(items):
    return {next(t["Value"] for t in item.get("Tags", []) if t["Key"] == "Name"): item for item in items}


def project_filter(cfg):
    return [{"Name": "tag:Project", "Values": [cfg.project]}, {"Name": "tag:Environment", "Values": [cfg.environment]}]


@pytest.fixture(scope="module")
def net(deployed, cfg):
    client = ec2(deployed)
    vpcs = client.describe_vpcs(Filters=project_filter(cfg))["Vpcs"]
    assert len(vpcs) == 1
    vpc_id = vpcs[0]["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    return {
        "vpc": vpcs[0],
        "subnets": by_name(client.describe_subnets(Filters=in_vpc)["Subnets"]),
        "tables": by_name([t for t in client.describe_route_tables(Filters=in_vpc)["RouteTables"]
                           if not any(a.get("Main") for a in t.get("Associations", []))]),
        "groups": {g["GroupName"]: g for g in client.describe_security_groups(Filters=in_vpc)["SecurityGroups"]},
        "endpoints": by_name(client.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]),
        "igw": client.describe_internet_gateways(Filters=project_filter(cfg))["InternetGateways"],
    }


def test_vpc_and_subnet_cidrs(deployed, net):
    client = ec2(deployed)
    assert net["vpc"]["CidrBlock"] == "10.0.0.0/16"
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        key = attribute[0].upper() + attribute[1:]
        assert client.describe_vpc_attribute(VpcId=net["vpc"]["VpcId"], Attribute=attribute)[key]["Value"] is True
    assert {name: s["CidrBlock"] for name, s in net["subnets"].items()} == {
        "clickstream-dev-public": "10.0.1.0/24",
        "clickstream-dev-private-analytics": "10.0.2.0/24",
        "clickstream-dev-private-etl": "10.0.3.0/24",
    }
    assert [a["VpcId"] for a in net["igw"][0]["Attachments"]] == [net["vpc"]["VpcId"]]


def test_only_the_public_table_reaches_the_internet(deployed, net):
    tables, subnets = net["tables"], net["subnets"]
    igw_id = net["igw"][0]["InternetGatewayId"]
    expected_subnet = {"clickstream-dev-public-rt": "clickstream-dev-public",
                       "clickstream-dev-private-analytics-rt": "clickstream-dev-private-analytics",
                       "clickstream-dev-private-etl-rt": "clickstream-dev-private-etl"}
    assert set(tables) == set(expected_subnet)
    for name, table in tables.items():
        assert [a["SubnetId"] for a in table["Associations"]] == [subnets[expected_subnet[name]]["SubnetId"]]
    public_default = [r for r in tables["clickstream-dev-public-rt"]["Routes"]
                      if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert [r["GatewayId"] for r in public_default] == [igw_id]
    for name in ("clickstream-dev-private-analytics-rt", "clickstream-dev-private-etl-rt"):
        for route in tables[name]["Routes"]:
            assert not route.get("GatewayId", "").startswith("igw-"), (name, route)
            assert "NatGatewayId" not in route and "EgressOnlyInternetGatewayId" not in route, (name, route)
            assert route.get("DestinationCidrBlock") != "0.0.0.0/0", (name, route)
    assert ec2(deployed).describe_nat_gateways()["NatGateways"] == []


def test_s3_gateway_endpoint_on_both_private_tables_with_a_narrow_policy(deployed, net, cfg):
    endpoint = net["endpoints"]["clickstream-dev-s3-gateway"]
    tables = net["tables"]
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["ServiceName"] == f"com.amazonaws.{cfg.region}.s3"
    assert sorted(endpoint["RouteTableIds"]) == sorted(
        [tables["clickstream-dev-private-analytics-rt"]["RouteTableId"],
         tables["clickstream-dev-private-etl-rt"]["RouteTableId"]])
    policy = json.loads(endpoint["PolicyDocument"])
    bucket, transfer = deployed[1].state["bucket"], deployed[1].state["ssm_transfer_bucket"]
    resources = {r for s in policy["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                           else s["Resource"])}
    assert "*" not in resources and "arn:aws:s3:::*" not in resources
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {"PlatformBuckets", "SsmTransferBucket", "SsmAgentBuckets"}
    # The raw bucket: events, backups and the DW host's staged packages (packages/*).
    assert sorted(statements["PlatformBuckets"]["Action"]) == ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    assert sorted(statements["PlatformBuckets"]["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    # Ansible's aws_ssm transfers: the DW host GETs module files and PUTs fetched ones.
    assert sorted(statements["SsmTransferBucket"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert statements["SsmTransferBucket"]["Resource"] == f"arn:aws:s3:::{transfer}/*"
    # The SSM agent's regional buckets, read-only, so the agent can install and update itself.
    agent = statements["SsmAgentBuckets"]
    assert agent["Action"] == "s3:GetObject"
    assert f"arn:aws:s3:::amazon-ssm-{cfg.region}/*" in agent["Resource"]
    assert all(cfg.region in r for r in agent["Resource"])


def test_ssm_interface_endpoints_in_private_subnet_1(net, cfg):
    subnet_1 = net["subnets"]["clickstream-dev-private-analytics"]["SubnetId"]
    group = net["groups"]["clickstream-dev-sg-endpoints"]["GroupId"]
    interface = {name: e for name, e in net["endpoints"].items() if e["VpcEndpointType"] == "Interface"}
    assert sorted(e["ServiceName"] for e in interface.values()) == sorted(
        f"com.amazonaws.{cfg.region}.{s}" for s in ("ssm", "ssmmessages", "ec2messages"))
    for endpoint in interface.values():
        assert endpoint["SubnetIds"] == [subnet_1]
        assert [g["GroupId"] for g in endpoint["Groups"]] == [group]
        assert endpoint["PrivateDnsEnabled"] is True


def test_security_group_rules_are_exactly_the_design(deployed, net):
    client = ec2(deployed)
    groups = net["groups"]
    ids = {name: g["GroupId"] for name, g in groups.items()}
    label = {v: k.removeprefix("clickstream-dev-") for k, v in ids.items()}
    s3_list = client.describe_managed_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-west-1.s3"]}])["PrefixLists"][0]["PrefixListId"]
    label[s3_list] = "s3-prefix-list"
    actual = {}
    for name, group_id in ids.items():
        if name == "default":
            continue
        rules = client.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        actual[name.removeprefix("clickstream-dev-")] = {
            ("out" if r["IsEgress"] else "in", r["IpProtocol"], r.get("FromPort"), r.get("ToPort"),
             r.get("CidrIpv4") or label.get((r.get("ReferencedGroupInfo") or {}).get("GroupId"))
             or label.get(r.get("PrefixListId")) or r.get("CidrIpv6"))
            for r in rules["SecurityGroupRules"]}
    assert actual == {
        "sg-oltp": {("in", "tcp", 5432, 5432, "198.51.100.0/24"), ("out", "-1", -1, -1, "0.0.0.0/0")},
        "sg-dw": {("in", "tcp", 5432, 5432, "sg-etl-lambda"), ("in", "tcp", 5432, 5432, "sg-shiny"),
                  ("out", "-1", -1, -1, "0.0.0.0/0")},
        "sg-shiny": {("out", "tcp", 5432, 5432, "sg-dw")},
        "sg-etl-lambda": {("out", "tcp", 443, 443, "s3-prefix-list"), ("out", "tcp", 443, 443, "sg-endpoints"),
                          ("out", "tcp", 5432, 5432, "sg-dw")},
        "sg-endpoints": {("in", "tcp", 443, 443, "10.0.0.0/16")},
    }


def test_raw_bucket_is_private_encrypted_and_tls_only(deployed):
    s3 = deployed[0]("s3")
    bucket = deployed[1].state["bucket"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}
    assert_encrypted_owner_enforced_tls_only(s3, bucket)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["raw-events"]["Filter"] == {"Prefix": "events/"}
    assert rules["raw-events"]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert "Expiration" not in rules["raw-events"]
    assert rules["invalid-events"]["Expiration"] == {"Days": 90}
    assert rules["backups"]["Expiration"] == {"Days": 35}



def assert_encrypted_owner_enforced_tls_only(s3, bucket: str) -> None:
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"] == [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]

def test_ssm_transfer_bucket_is_private_encrypted_tls_only_unversioned_and_short_lived(deployed):
    s3 = deployed[0]("s3")
    bucket = deployed[1].state["ssm_transfer_bucket"]
    assert bucket == f"clickstream-dev-ssm-{deployed[0].account_id}-eu-west-1"
    assert bucket != deployed[1].state["bucket"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    assert_encrypted_owner_enforced_tls_only(s3, bucket)
    # Never versioned: a deleted transfer file (which can hold a secret) leaves no old version.
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["Status"] == "Enabled" and lifecycle["Filter"] == {"Prefix": ""}
    assert lifecycle["Expiration"] == {"Days": 1}
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert (tags["Project"], tags["Environment"], tags["ManagedBy"]) == ("clickstream", "dev", "clickstream-provision")


ALLOWED = {
    # role → {(action, resource suffix after the bucket ARN or the literal resource)}
    "ingest": {("logs:CreateLogStream", "log:/aws/lambda/clickstream-dev-ingest"),
               ("logs:PutLogEvents", "log:/aws/lambda/clickstream-dev-ingest"),
               ("s3:PutObject", "bucket:/events/*"), ("s3:PutObject", "bucket:/invalid/*")},
    "etl": {("logs:CreateLogStream", "log:/aws/lambda/clickstream-dev-etl"),
            ("logs:PutLogEvents", "log:/aws/lambda/clickstream-dev-etl"),
            ("s3:ListBucket", "bucket:"), ("s3:GetObject", "bucket:/events/*"),
            ("sqs:SendMessage", "queue:clickstream-dev-etl-failures"),
            # the warehouse password and CA certificate, and the SSM key through SSM only
            ("ssm:GetParameter", "param:clickstream/dev/dw/etl_password"),
            ("ssm:GetParameter", "param:clickstream/dev/tls/ca_cert"), ("kms:Decrypt", "kms-key"),
            *{(a, "*") for a in ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                                 "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                                 "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")}},
    "ec2-host": {("s3:ListBucket", "bucket:"),
                 # nightly pg_dump, and its retention pruning (the lifecycle rule stays as well)
                 ("s3:GetObject", "bucket:/backups/*"), ("s3:PutObject", "bucket:/backups/*"),
                 ("s3:DeleteObject", "bucket:/backups/*"),
                 # the OLTP host stages the DW host's Debian packages (roles/offline_packages)
                 ("s3:GetObject", "bucket:/packages/*"), ("s3:PutObject", "bucket:/packages/*"),
                 ("s3:GetObjectTagging", "bucket:/packages/*"),
                 # Ansible's amazon.aws.aws_ssm file transfers
                 ("s3:GetObject", "transfer:/*"), ("s3:PutObject", "transfer:/*"),
                 ("s3:DeleteObject", "transfer:/*"),
                 # the CA certificate only, never the warehouse password
                 ("ssm:GetParameter", "param:clickstream/dev/tls/ca_cert"),
                 # the SSM agent (tests/provision/test_secrets_iam.py checks its scoping)
                 *{(a, "ssm-agent") for a in ("ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations",
                                              "ssm:PutComplianceItems", "ssm:DescribeAssociation",
                                              "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus",
                                              "ssm:GetDocument", "ssm:DescribeDocument", "ssm:ListAssociations",
                                              "ssm:PutInventory", "ssm:GetDeployablePatchSnapshotForInstance",
                                              "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                              "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
                                              "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
                                              "ec2messages:FailMessage", "ec2messages:GetEndpoint",
                                              "ec2messages:GetMessages", "ec2messages:SendReply")}},
}


def _grants(document, bucket, account, transfer="<none>"):
    grants = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in actions:
            assert "*" not in action, action
            for resource in resources:
                if resource.startswith(f"arn:aws:s3:::{bucket}"):
                    short = "bucket:" + resource.removeprefix(f"arn:aws:s3:::{bucket}")
                elif resource.startswith(f"arn:aws:s3:::{transfer}"):
                    short = "transfer:" + resource.removeprefix(f"arn:aws:s3:::{transfer}")
                elif resource.startswith(f"arn:aws:logs:eu-west-1:{account}:log-group:"):
                    short = "log:" + resource.split(":log-group:")[1].removesuffix(":*")
                elif resource.startswith(f"arn:aws:sqs:eu-west-1:{account}:"):
                    short = "queue:" + resource.rsplit(":", 1)[1]
                elif resource.startswith(f"arn:aws:ssm:eu-west-1:{account}:parameter/"):
                    short = "param:" + resource.split(":parameter/")[1]
                elif resource.startswith(f"arn:aws:kms:eu-west-1:{account}:key/"):
                    short = "kms-key"
                elif action.split(":")[0] in {"ssm", "ssmmessages", "ec2messages"}:
                    short = "ssm-agent"
                else:
                    short = resource
                grants.add((action, short))
    return grants


def test_iam_documents_grant_no_more_than_listed(deployed):
    iam = deployed[0]("iam")
    bucket, transfer = deployed[1].state["bucket"], deployed[1].state["ssm_transfer_bucket"]
    account = deployed[0].account_id
    for role, allowed in ALLOWED.items():
        name = f"clickstream-dev-{role}" + ("-lambda" if role in {"ingest", "etl"} else "")
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["least-privilege"]
        document = iam.get_role_policy(RoleName=name, PolicyName="least-privilege")["PolicyDocument"]
        assert _grants(document, bucket, account, transfer) == allowed, role
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]["Statement"]
        service = "ec2.amazonaws.com" if role == "ec2-host" else "lambda.amazonaws.com"
        assert trust == [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        assert attached == []  # no AWS managed policy: AmazonSSMManagedInstanceCore reads every parameter
    # The ETL may list the bucket only under events/.
    etl = iam.get_role_policy(RoleName="clickstream-dev-etl-lambda", PolicyName="least-privilege")["PolicyDocument"]
    listing = next(s for s in etl["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["events/*"]}}
    # The hosts may list only their backups and the staged packages.
    host = iam.get_role_policy(RoleName="clickstream-dev-ec2-host", PolicyName="least-privilege")["PolicyDocument"]
    [listing] = [s for s in host["Statement"] if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["backups/*", "packages/*"]}}
    profile = iam.get_instance_profile(InstanceProfileName="clickstream-dev-ec2-host")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["clickstream-dev-ec2-host"]


def test_hosts(deployed, net):
    client = ec2(deployed)
    reservations = client.describe_instances(Filters=[{"Name": "tag:Project", "Values": ["clickstream"]},
                                                      {"Name": "instance-state-name", "Values": ["running"]}])
    hosts = by_name([i for r in reservations["Reservations"] for i in r["Instances"]])
    assert set(hosts) == {"clickstream-dev-oltp", "clickstream-dev-dw"}
    oltp, dw = hosts["clickstream-dev-oltp"], hosts["clickstream-dev-dw"]
    assert oltp["SubnetId"] == net["subnets"]["clickstream-dev-public"]["SubnetId"]
    assert dw["SubnetId"] == net["subnets"]["clickstream-dev-private-analytics"]["SubnetId"]
    assert oltp.get("PublicIpAddress") and not dw.get("PublicIpAddress")
    assert oltp["InstanceType"] == "t3.small" and dw["InstanceType"] == "t3.medium"
    groups = {g["GroupId"]: name for name, g in net["groups"].items()}

    def group_names(host):
        return {groups[g["GroupId"]] for eni in host["NetworkInterfaces"] for g in eni["Groups"]}

    assert group_names(oltp) == {"clickstream-dev-sg-oltp"}
    assert group_names(dw) == {"clickstream-dev-sg-dw", "clickstream-dev-sg-shiny"}
    for host, role in ((oltp, "oltp"), (dw, "dw")):
        tags = {t["Key"]: t["Value"] for t in host["Tags"]}
        assert tags["Role"] == role and tags["Project"] == "clickstream" and tags["Environment"] == "dev"
        assert host["MetadataOptions"]["HttpTokens"] == "required"
        assert host["IamInstanceProfile"]["Arn"].endswith("instance-profile/clickstream-dev-ec2-host")
        volumes = client.describe_volumes(Filters=[{"Name": "attachment.instance-id",
                                                    "Values": [host["InstanceId"]]}])["Volumes"]
        assert [(v["VolumeType"], v["Encrypted"]) for v in volumes] == [("gp3", True)]
        user_data = client.describe_instance_attribute(InstanceId=host["InstanceId"], Attribute="userData")
        script = base64.b64decode(user_data["UserData"]["Value"]).decode()
        # The SSM agent comes from the regional bucket the gateway endpoint policy allows.
        assert "https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/latest/debian_amd64/" in script


def test_lambda_configurations(deployed, net, cfg):
    lam = deployed[0]("lambda")
    state = deployed[1].state
    ingest = lam.get_function(FunctionName="clickstream-dev-ingest")["Configuration"]
    etl = lam.get_function(FunctionName="clickstream-dev-etl")["Configuration"]
    assert (ingest["Handler"], ingest["Runtime"]) == ("ingest.handler.handler", "python3.12")
    assert (etl["Handler"], etl["Runtime"]) == ("etl.handler.handler", "python3.12")
    assert ingest["Role"].endswith("role/clickstream-dev-ingest-lambda")
    assert etl["Role"].endswith("role/clickstream-dev-etl-lambda")
    assert not (ingest.get("VpcConfig") or {}).get("SubnetIds")
    assert etl["VpcConfig"]["SubnetIds"] == [net["subnets"]["clickstream-dev-private-etl"]["SubnetId"]]
    assert etl["VpcConfig"]["SecurityGroupIds"] == [net["groups"]["clickstream-dev-sg-etl-lambda"]["GroupId"]]
    env = ingest["Environment"]["Variables"]
    assert env["RAW_BUCKET_NAME"] == state["bucket"]
    assert env["CORS_ALLOWED_ORIGINS"] == "https://shop.example.com,http://localhost:3000"
    etl_env = etl["Environment"]["Variables"]
    assert set(etl_env) == {"RAW_BUCKET_NAME", "DW_PG_HOST", "DW_PG_PORT", "DW_PG_USER", "DW_PG_PASSWORD_PARAMETER",
                            "DW_PG_DATABASE", "DW_PG_SSL", "DW_PG_SSL_ROOT_CERT_PARAMETER", "ETL_LOOKBACK_HOURS",
                            "ETL_PARSE_WORKERS", "ETL_PAGE_PATH_RULES", "ETL_STORE_CURRENCY",
                            "ETL_ATTRIBUTION_LOOKBACK_DAYS"}
    assert etl_env["ETL_PARSE_WORKERS"] == "0"  # 512 MB is a fraction of one vCPU: parse in-process
    assert etl_env["DW_PG_HOST"] == state["dw_private_ip"]
    assert etl_env["DW_PG_SSL"] == "verify-full"
    assert etl_env["DW_PG_SSL_ROOT_CERT_PARAMETER"] == "/clickstream/dev/tls/ca_cert"
    parameter = deployed[0]("ssm").get_parameter(Name="/clickstream/dev/dw/etl_password",
                                                 WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert etl_env["DW_PG_PASSWORD_PARAMETER"] == parameter["Name"] and len(parameter["Value"]) >= 32
    config = lam.get_function_event_invoke_config(FunctionName="clickstream-dev-etl")
    assert config["DestinationConfig"]["OnFailure"]["Destination"].endswith(":clickstream-dev-etl-failures")
    logs = deployed[0]("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]
    assert {g["logGroupName"]: g.get("retentionInDays") for g in logs} == {
        "/aws/lambda/clickstream-dev-ingest": 30, "/aws/lambda/clickstream-dev-etl": 30,
        "/aws/apigateway/clickstream-dev-ingest-api": 30}


def test_http_api_route_integration_stage_and_permission(deployed, cfg):
    api = deployed[0]("apigatewayv2")
    api_id = deployed[1].state["api_id"]
    routes = api.get_routes(ApiId=api_id)["Items"]
    integrations = api.get_integrations(ApiId=api_id)["Items"]
    assert len(integrations) == 1
    integration = integrations[0]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"].endswith(":function:clickstream-dev-ingest")
    assert {r["RouteKey"]: r["Target"] for r in routes} == {
        "POST /clickstream": f"integrations/{integration['IntegrationId']}",
        "OPTIONS /clickstream": f"integrations/{integration['IntegrationId']}"}
    stage = api.get_stage(ApiId=api_id, StageName="$default")
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 100.0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 200
    log_group = ":log-group:/aws/apigateway/clickstream-dev-ingest-api"
    assert stage["AccessLogSettings"]["DestinationArn"].endswith(log_group)
    assert json.loads(stage["AccessLogSettings"]["Format"])["status"] == "$context.status"
    policy = json.loads(deployed[0]("lambda").get_policy(FunctionName="clickstream-dev-ingest")["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(f":{api_id}/*/*/clickstream")


def test_schedule_target_and_scoped_permission(deployed, cfg):
    events = deployed[0]("events")
    rule = events.describe_rule(Name="clickstream-dev-etl-schedule")
    assert rule["ScheduleExpression"] == "cron(0/30 * * * ? *)" and rule["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule="clickstream-dev-etl-schedule")["Targets"]
    assert [t["Arn"] for t in targets] == [deployed[1].state["etl_function_arn"]]
    policy = json.loads(deployed[0]("lambda").get_policy(FunctionName="clickstream-dev-etl")["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]


def test_alarms(deployed):
    alarms = {a["AlarmName"]: a for a in deployed[0]("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(alarms) == {"clickstream-dev-etl-errors", "clickstream-dev-etl-lag", "clickstream-dev-ingest-5xx",
                           "clickstream-dev-etl-failed-invocations"}
    assert (alarms["clickstream-dev-etl-errors"]["Namespace"], alarms["clickstream-dev-etl-errors"]["MetricName"]) \
        == ("AWS/Lambda", "Errors")
    assert alarms["clickstream-dev-ingest-5xx"]["MetricName"] == "5xx"
    assert alarms["clickstream-dev-etl-lag"]["MetricName"] == "EtlLagSeconds"
    assert alarms["clickstream-dev-etl-lag"]["TreatMissingData"] == "breaching"


def test_outputs_name_what_other_tools_need_and_no_secret(deployed, cfg):
    out = run.outputs(cfg, deployed[0])
    assert out["complete"] is True and out["pending_changes"] == []
    assert out["ingest_url"] == f"{out['api_url']}/clickstream"
    assert out["raw_bucket"] == deployed[1].state["bucket"]
    # inventory/group_vars/all.yml: ansible_aws_ssm_bucket_name
    assert out["ssm_transfer_bucket"] == deployed[1].state["ssm_transfer_bucket"] != out["raw_bucket"]
    assert out["hosts"]["dw"]["private_ip"].startswith("10.0.2.")
    assert out["storefront_database_url_template"].startswith("postgresql://<user>:<password>@")
    assert "sslmode=verify-full&sslrootcert=" in out["storefront_database_url_template"]
    assert out["dw_ca_parameter"] == f"/{cfg.project}/{cfg.environment}/tls/ca_cert"
    password = deployed[0]("ssm").get_parameter(Name=out["dw_password_parameter"], WithDecryption=True)
    assert password["Parameter"]["Value"] not in json.dumps(out)


@pytest.mark.parametrize(("memory_mb", "workers"), [(128, 0), (512, 0), (1769, 0), (3537, 0), (3538, 2), (10240, 5)])
def test_etl_parse_workers_follow_the_lambda_vcpus(memory_mb, workers):
    assert serverless.etl_parse_workers(memory_mb) == workers
