"""The S3 buckets (raw data, Ansible's SSM transfers) and the warehouse password in SSM Parameter Store."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from toolkit.provision.aws import error_code
from toolkit.provision.engine import Ctx, canonical_json
from toolkit.provision.policies import bucket_policy

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}
OWNERSHIP = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
SSM_DEFAULT_KEY = "alias/aws/ssm"  # the AWS managed key of SecureStrings created without a KeyId


def lifecycle_rules(ctx: Ctx) -> list[dict[str, Any]]:
    s = ctx.cfg.storage
    raw: dict[str, Any] = {"ID": "raw-events", "Filter": {"Prefix": "events/"}, "Status": "Enabled"}
    if s.raw_transition_ia_days:
        raw["Transitions"] = [{"Days": s.raw_transition_ia_days, "StorageClass": "STANDARD_IA"}]
    if s.raw_expiration_days:
        raw["Expiration"] = {"Days": s.raw_expiration_days}
    rules = [raw] if len(raw) > 3 else []
    for rule_id, prefix, days in (("invalid-events", "invalid/", s.invalid_expiration_days),
                                  ("backups", "backups/", s.backups_expiration_days)):
        if days:
            rules.append({"ID": rule_id, "Filter": {"Prefix": prefix}, "Status": "Enabled",
                          "Expiration": {"Days": days}})
    rules.append({"ID": "abort-incomplete-uploads", "Filter": {"Prefix": ""}, "Status": "Enabled",
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}})
    return rules


def transfer_lifecycle_rules(ctx: Ctx) -> list[dict[str, Any]]:
    """The aws_ssm connection deletes each file after its task; this catches what an interrupted run left."""
    days = ctx.cfg.storage.ssm_transfer_expiration_days
    return [{"ID": "transient-files", "Filter": {"Prefix": ""}, "Status": "Enabled",
             "Expiration": {"Days": days},
             # Only matters if someone turned versioning on by hand (apply suspends it again).
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]


def _bucket_exists(ctx: Ctx, bucket: str, field: str) -> bool:
    try:
        ctx.call("s3", "head_bucket", Bucket=bucket, ExpectedBucketOwner=ctx.account)
        return True
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
            return False
        if error_code(exc) in {"403", "AccessDenied"}:
            raise RuntimeError(
                f"bucket {bucket} exists but belongs to another account: set storage.{field}") from None
        raise


def _read(ctx: Ctx, operation: str, bucket: str, missing_codes: set[str], pick: Callable[[dict], Any]) -> Any:
    try:
        return pick(ctx.call("s3", operation, Bucket=bucket))
    except ClientError as exc:
        if error_code(exc) in missing_codes:
            return None
        raise


def raw_bucket(ctx: Ctx) -> None:
    ctx.state["bucket"] = ctx.names.bucket
    _private_bucket(ctx, ctx.names.bucket, "raw_bucket_name", lifecycle_rules(ctx),
                    "private, encrypted, TLS only, lifecycle")


def ssm_transfer_bucket(ctx: Ctx) -> None:
    """Ansible's amazon.aws.aws_ssm connection moves module files through this bucket by presigned
    URLs. Kept apart from the raw bucket so that its files (which can hold secrets) never share a
    bucket with data, and it can be emptied and deleted on every destroy."""
    ctx.state["ssm_transfer_bucket"] = ctx.names.ssm_transfer_bucket
    _private_bucket(ctx, ctx.names.ssm_transfer_bucket, "ssm_transfer_bucket_name", transfer_lifecycle_rules(ctx),
                    f"private, encrypted, TLS only, unversioned, files expire after "
                    f"{ctx.cfg.storage.ssm_transfer_expiration_days} day(s)", unversioned=True)


def _versioning(ctx: Ctx, bucket: str) -> str:
    # A bucket that was never versioned has no Status; "Suspended" keeps no new versions either.
    return "Enabled" if ctx.call("s3", "get_bucket_versioning", Bucket=bucket).get("Status") == "Enabled" else "off"


def _private_bucket(ctx: Ctx, bucket: str, field: str, rules: list[dict[str, Any]], detail: str,
                    unversioned: bool = False) -> None:
    region = ctx.region
    exists = _bucket_exists(ctx, bucket, field)
    if not exists:
        ctx.record("create", "s3 bucket", bucket, detail)
        if ctx.plan_only:
            return
        create: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        ctx.call("s3", "create_bucket", **create)
        ctx.clients("s3").get_waiter("bucket_exists").wait(Bucket=bucket, WaiterConfig={"Delay": 2})
    else:
        ctx.keep()
    policy = canonical_json(bucket_policy(f"arn:{ctx.clients.partition}:s3:::{bucket}"))
    tags = sorted(ctx.tag_list(), key=lambda t: t["Key"])
    settings: list[tuple[str, Callable[[], Any], Any, Callable[[], None]]] = [
        ("public access block",
         lambda: _read(ctx, "get_public_access_block", bucket, {"NoSuchPublicAccessBlockConfiguration"},
                       lambda r: r["PublicAccessBlockConfiguration"]),
         PUBLIC_ACCESS_BLOCK,
         lambda: ctx.call("s3", "put_public_access_block", Bucket=bucket,
                          PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)),
        ("default encryption",
         lambda: _read(ctx, "get_bucket_encryption", bucket, {"ServerSideEncryptionConfigurationNotFoundError"},
                       lambda r: r["ServerSideEncryptionConfiguration"]),
         ENCRYPTION,
         lambda: ctx.call("s3", "put_bucket_encryption", Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)),
        ("object ownership",
         lambda: _read(ctx, "get_bucket_ownership_controls", bucket, {"OwnershipControlsNotFoundError"},
                       lambda r: r["OwnershipControls"]),
         OWNERSHIP,
         lambda: ctx.call("s3", "put_bucket_ownership_controls", Bucket=bucket, OwnershipControls=OWNERSHIP)),
        ("TLS-only policy",
         lambda: _read(ctx, "get_bucket_policy", bucket, {"NoSuchBucketPolicy"}, lambda r: canonical_json(r["Policy"])),
         policy,
         lambda: ctx.call("s3", "put_bucket_policy", Bucket=bucket, Policy=policy)),
        ("lifecycle",
         lambda: _read(ctx, "get_bucket_lifecycle_configuration", bucket, {"NoSuchLifecycleConfiguration"},
                       lambda r: canonical_json(r["Rules"])),
         canonical_json(rules),
         lambda: ctx.call("s3", "put_bucket_lifecycle_configuration", Bucket=bucket,
                          LifecycleConfiguration={"Rules": rules})),
        ("tags",
         lambda: _read(ctx, "get_bucket_tagging", bucket, {"NoSuchTagSet"},
                       lambda r: sorted(r["TagSet"], key=lambda t: t["Key"])),
         tags,
         lambda: ctx.call("s3", "put_bucket_tagging", Bucket=bucket, Tagging={"TagSet": tags})),
    ]
    if unversioned and exists:  # a new bucket is unversioned already
        # Transferred files can hold secrets: a version of one must not outlive its deletion.
        settings.append(("versioning suspended", lambda: _versioning(ctx, bucket), "off",
                         lambda: ctx.call("s3", "put_bucket_versioning", Bucket=bucket,
                                          VersioningConfiguration={"Status": "Suspended"})))
    for label, read, wanted, write in settings:
        if exists:
            current = read()
            if _same(current, wanted):
                continue
            ctx.record("update", "s3 bucket", bucket, label)
        if not ctx.plan_only:
            write()


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict | list) and current is not None:
        return canonical_json(current) == canonical_json(wanted)
    return current == wanted


def dw_password(ctx: Ctx) -> None:
    """A generated password for the ETL's warehouse user, kept as a SecureString. Created once,
    never read back here: the ETL reads it at run time and the Ansible dw role sets it on the
    login (its secrets role's ssm backend, `dw/etl_password` under the same prefix). Also
    resolves the KMS key that encrypts it, for the ETL role's kms:Decrypt."""
    name = ctx.names.dw_password_parameter
    ctx.state["dw_password_parameter"] = name
    ctx.state["dw_ca_parameter"] = ctx.names.dw_ca_parameter  # published by the Ansible role tls_ca
    found = ctx.call("ssm", "describe_parameters",
                     ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])["Parameters"]
    if found:
        ctx.keep()
        key = found[0].get("KeyId") or SSM_DEFAULT_KEY
    else:
        # URL-safe, so it also fits a libpq connection URL without escaping.
        ctx.reconcile("create", "ssm parameter", name, "SecureString, generated", apply=lambda: ctx.call(
            "ssm", "put_parameter", Name=name, Value=secrets.token_urlsafe(32), Type="SecureString", Tier="Standard",
            Description=f"PostgreSQL password of {ctx.cfg.etl.dw_user} on the {ctx.cfg.prefix} warehouse",
            Tags=ctx.tag_list()))
        key = SSM_DEFAULT_KEY
    if ctx.plan_only and not found:
        # Describing an AWS managed key that does not exist yet would create it: not in a plan.
        ctx.state["ssm_kms_key_arn"] = ctx.pending("kms key")
        return
    ctx.state["ssm_kms_key_arn"] = ctx.call("kms", "describe_key", KeyId=key)["KeyMetadata"]["Arn"]
