"""IAM, bucket and endpoint policy documents, as plain functions of names and ARNs."""

from __future__ import annotations

from typing import Any

VERSION = "2012-10-17"

# Actions a Lambda function needs to attach to a VPC. AWS does not know an ENI's ARN before
# the function creates it, so these cannot be scoped to a resource (as in the managed
# AWSLambdaVPCAccessExecutionRole, minus its log-group wildcard).
LAMBDA_VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


def assume_role(service: str) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _logs_statement(log_group_arn: str) -> dict[str, Any]:
    # The log group is created by provisioning (with its retention), so no logs:CreateLogGroup.
    return {"Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*"}


def ingest_policy(bucket_arn: str, log_group_arn: str) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            _logs_statement(log_group_arn),
            {"Sid": "WriteRawEvents", "Effect": "Allow", "Action": "s3:PutObject",
             "Resource": [f"{bucket_arn}/events/*", f"{bucket_arn}/invalid/*"]},
        ],
    }


def service_host(service: str, region: str, partition: str = "aws") -> str:
    """The host name AWS puts in kms:ViaService for calls a service makes on a principal's behalf."""
    return f"{service}.{region}.amazonaws.com" + (".cn" if partition == "aws-cn" else "")


def etl_policy(bucket_arn: str, log_group_arn: str, failures_queue_arn: str, parameter_arns: list[str],
               ssm_key_arn: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """``parameter_arns``: the warehouse password (SecureString) and CA certificate (String)."""
    return {
        "Version": VERSION,
        "Statement": [
            _logs_statement(log_group_arn),
            # Read at the first connection of a container, through the ssm VPC endpoint.
            {"Sid": "ReadWarehouseParameters", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": parameter_arns},
            # Decrypting the SecureString: only SSM may use the key on the role's behalf.
            {"Sid": "DecryptWarehousePassword", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": ssm_key_arn,
             "Condition": {"StringEquals": {"kms:ViaService": service_host("ssm", region, partition)}}},
            {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": LAMBDA_VPC_ACTIONS, "Resource": "*"},
            # The ETL lists and reads accepted events only: never invalid/ or backups/.
            {"Sid": "ListRawEvents", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": ["events/*"]}}},
            {"Sid": "ReadRawEvents", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"{bucket_arn}/events/*"},
            # The on-failure destination of asynchronous invocations is sent with this role.
            {"Sid": "OnFailureDestination", "Effect": "Allow", "Action": "sqs:SendMessage",
             "Resource": failures_queue_arn},
        ],
    }


# The SSM agent's calls, as AWS's AmazonSSMManagedEC2InstanceDefaultPolicy grants them
# (AmazonSSMManagedInstanceCore minus ssm:GetParameter(s), which would read every parameter of
# the account, the warehouse password included), less Distributor's GetManifest and
# PutConfigurePackageResult (no packages are distributed). Session Manager, and so Ansible's
# aws_ssm connection, needs UpdateInstanceInformation and the ssmmessages channels; the rest
# keeps Run Command, State Manager, inventory and patching working.
SSM_AGENT_INSTANCE_ACTIONS = ["ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations",
                              "ssm:PutComplianceItems"]
SSM_AGENT_ASSOCIATION_ACTIONS = ["ssm:DescribeAssociation", "ssm:UpdateAssociationStatus",
                                 "ssm:UpdateInstanceAssociationStatus"]
SSM_AGENT_DOCUMENT_ACTIONS = ["ssm:GetDocument", "ssm:DescribeDocument"]
# No resource type in IAM for these: "*" is the only Resource AWS evaluates them against.
SSM_AGENT_UNSCOPED_ACTIONS = ["ssm:ListAssociations", "ssm:PutInventory", "ssm:GetDeployablePatchSnapshotForInstance"]
SSM_SESSION_ACTIONS = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                       "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
SSM_MESSAGE_ACTIONS = ["ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
                       "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply"]


def ssm_agent_statements(partition: str, region: str, account: str) -> list[dict[str, Any]]:
    """The SSM agent's permissions, scoped to this account and region where IAM allows it."""
    instances = f"arn:{partition}:ec2:{region}:{account}:instance/*"
    # The account's own documents and AWS's (AWS-StartSSHSession, AWS-RunShellScript, ...).
    documents = [f"arn:{partition}:ssm:{region}:{account}:document/*", f"arn:{partition}:ssm:{region}::document/*"]
    associations = f"arn:{partition}:ssm:{region}:{account}:association/*"
    return [
        {"Sid": "SsmAgentInstance", "Effect": "Allow", "Action": SSM_AGENT_INSTANCE_ACTIONS, "Resource": instances},
        {"Sid": "SsmAgentAssociations", "Effect": "Allow", "Action": SSM_AGENT_ASSOCIATION_ACTIONS,
         "Resource": [instances, associations, *documents]},
        {"Sid": "SsmAgentDocuments", "Effect": "Allow", "Action": SSM_AGENT_DOCUMENT_ACTIONS, "Resource": documents},
        {"Sid": "SsmAgentUnscoped", "Effect": "Allow", "Action": SSM_AGENT_UNSCOPED_ACTIONS, "Resource": "*"},
        {"Sid": "SessionManagerChannels", "Effect": "Allow", "Action": SSM_SESSION_ACTIONS, "Resource": "*"},
        {"Sid": "RunCommandMessages", "Effect": "Allow", "Action": SSM_MESSAGE_ACTIONS, "Resource": "*"},
    ]


def ec2_host_policy(bucket_arn: str, transfer_bucket_arn: str, ca_parameter_arn: str, partition: str, region: str,
                    account: str) -> dict[str, Any]:
    """Both hosts share this role: the SSM agent, backups, the offline package repository,
    Ansible's file transfers and the warehouse's CA certificate; never the warehouse password."""
    return {
        "Version": VERSION,
        "Statement": [
            *ssm_agent_statements(partition, region, account),
            # Public by nature: clients on the hosts may verify the warehouse with it.
            {"Sid": "ReadCaCertificate", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": ca_parameter_arn},
            # Listing is what makes S3 answer 404 (not 403) for a missing key under these prefixes.
            {"Sid": "ListBackupsAndPackages", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": ["backups/*", "packages/*"]}}},
            # DeleteObject lets the nightly pg_dump prune past its retention; the bucket's
            # lifecycle rule on backups/ stays as the backstop if a host never runs it.
            {"Sid": "ReadWriteBackups", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": f"{bucket_arn}/backups/*"},
            # The OLTP host stages the DW host's Debian packages here (it has the internet); the DW
            # host reads them through the S3 gateway endpoint. amazon.aws.s3_object reads an
            # object's tags after every put, hence GetObjectTagging.
            {"Sid": "StageOfflinePackages", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectTagging"], "Resource": f"{bucket_arn}/packages/*"},
            {"Sid": "SsmTransferFiles", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": f"{transfer_bucket_arn}/*"},
        ],
    }


def bucket_policy(bucket_arn: str) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, f"{bucket_arn}/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }


def ssm_agent_buckets(region: str) -> list[str]:
    """S3 buckets the SSM agent reads through the gateway endpoint (AWS Systems Manager docs)."""
    return [
        f"aws-ssm-{region}", f"amazon-ssm-{region}", f"amazon-ssm-packages-{region}",
        f"{region}-birdwatcher-prod", f"aws-ssm-distributor-file-{region}",
        f"aws-ssm-document-attachments-{region}", f"patch-baseline-snapshot-{region}",
    ]


def s3_endpoint_policy(raw_bucket: str, extra_buckets: list[str], read_only_buckets: list[str],
                       partition: str = "aws", transfer_bucket: str = "") -> dict[str, Any]:
    """Gateway endpoint policy: only the buckets the private subnets need, nothing else in S3."""
    arn = f"arn:{partition}:s3:::"
    statements: list[dict[str, Any]] = [
        {"Sid": "PlatformBuckets", "Effect": "Allow", "Principal": "*",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [r for b in [raw_bucket, *extra_buckets] for r in (f"{arn}{b}", f"{arn}{b}/*")]},
    ]
    if transfer_bucket:
        # Ansible's aws_ssm connection: the private host GETs module files and PUTs fetched ones
        # with presigned URLs; the controller lists and deletes them from outside the VPC.
        statements.append({"Sid": "SsmTransferBucket", "Effect": "Allow", "Principal": "*",
                           "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{arn}{transfer_bucket}/*"})
    if read_only_buckets:
        statements.append({"Sid": "SsmAgentBuckets", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": [f"{arn}{b}/*" for b in read_only_buckets]})
    return {"Version": VERSION, "Statement": statements}


def flow_logs_trust_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """VPC Flow Logs may assume the delivery role only for flow logs of this account and region."""
    return {
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account},
                          "ArnLike": {"aws:SourceArn": f"arn:{partition}:ec2:{region}:{account}:vpc-flow-log/*"}},
        }],
    }


def flow_logs_delivery_policy(log_group_arn: str) -> dict[str, Any]:
    """What VPC Flow Logs needs to write into the one log group provisioning created (with its
    retention): streams and events there, nothing else. No logs:CreateLogGroup.

    DescribeLogGroups is a list call IAM cannot narrow below the account's log groups in the
    region (`log-group:*`); it shows names and settings, never a record."""
    account_groups = log_group_arn.split(":log-group:")[0] + ":log-group:*"
    return {
        "Version": VERSION,
        "Statement": [
            {"Sid": "WriteFlowLogRecords", "Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
             "Resource": [log_group_arn, f"{log_group_arn}:*"]},
            {"Sid": "FindTheLogGroup", "Effect": "Allow", "Action": "logs:DescribeLogGroups",
             "Resource": account_groups},
        ],
    }
