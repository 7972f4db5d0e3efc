"""IAM, bucket and endpoint policy documents, as plain functions of names and ARNs."""

from __future__ import annotations

from typing import Any

VERSION = "2012-10-17"
SSM_MANAGED_INSTANCE_CORE = "AmazonSSMManagedInstanceCore"

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


def etl_policy(bucket_arn: str, log_group_arn: str, failures_queue_arn: str) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            _logs_statement(log_group_arn),
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


def ec2_host_policy(bucket_arn: str, transfer_bucket_arn: str) -> dict[str, Any]:
    """Both hosts share this role: backups, the offline package repository, Ansible's file transfers."""
    return {
        "Version": VERSION,
        "Statement": [
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
