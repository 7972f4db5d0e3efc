"""boto3 clients for one region, and the retry rules the provisioning calls share.

The endpoint comes from the standard `AWS_ENDPOINT_URL` (botocore honours it for every
client), so the same code runs against AWS or a moto server.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
})

# A new IAM role or instance profile is not visible everywhere at once: Lambda and EC2 refuse
# it for a few seconds after it was created.
IAM_PROPAGATION_MESSAGES = (
    "cannot be assumed by lambda",
    "the role defined for the function cannot be assumed",
    "invalid iam instance profile",
    "does not have permissions to call",
    "execution role does not have permissions",
    "lambda was unable to configure access to your environment variables",
    "not authorized to perform: sqs:sendmessage",
)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def is_throttling(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in THROTTLING_CODES


def is_iam_propagation(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "").lower()
    return code in {"InvalidParameterValueException", "InvalidParameterValue", "AccessDeniedException"} and any(
        fragment in message for fragment in IAM_PROPAGATION_MESSAGES
    )


class Retrier:
    """Retries throttling (exponential backoff with full jitter) and, on request, IAM propagation.

    `sleep` is injectable so tests run without waiting.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep, attempts: int = 8, base_delay: float = 0.5,
                 max_delay: float = 20.0, propagation_timeout: float = 120.0, rng: random.Random | None = None):
        self.sleep = sleep
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.propagation_timeout = propagation_timeout
        self.rng = rng or random.Random()
        self.waited = 0.0

    def _pause(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def call(self, fn: Callable[..., Any], /, *, iam_propagation: bool = False, **kwargs: Any) -> Any:
        throttled = 0
        propagation_waited = 0.0
        while True:
            try:
                return fn(**kwargs)
            except ClientError as exc:
                if is_throttling(exc) and throttled + 1 < self.attempts:
                    throttled += 1
                    cap = min(self.max_delay, self.base_delay * 2**throttled)
                    self._pause(self.rng.uniform(cap / 2, cap))
                    continue
                if iam_propagation and is_iam_propagation(exc) and propagation_waited < self.propagation_timeout:
                    propagation_waited += 3.0
                    self._pause(3.0)
                    continue
                raise

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float, interval: float = 5.0) -> None:
        """Poll `check` until it is true; raises TimeoutError naming `what`."""
        waited = 0.0
        while not check():
            if waited >= timeout:
                raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
            self._pause(interval)
            waited += interval


class Clients:
    """Lazily created clients sharing one session; `client("ec2")`."""

    def __init__(self, region: str, session: boto3.session.Session | None = None, emulator: bool | None = None):
        self.region = region
        self.session = session or boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}
        # botocore's own retries cover connection errors; throttling is handled by Retrier
        # with longer backoff, so keep botocore's short.
        self._config = BotoConfig(retries={"mode": "standard", "total_max_attempts": 3},
                                  user_agent_extra="clickstream-provision")
        self.endpoint_url = os.environ.get("AWS_ENDPOINT_URL") or None
        # An emulator (moto) lacks some public data, e.g. the Debian AMI parameters; a few steps
        # fall back to what it has. Against AWS (no endpoint override) they never do.
        self.emulator = bool(self.endpoint_url) if emulator is None else emulator
        self._account_id: str | None = None

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region, config=self._config)
        return self._clients[service]

    def set(self, service: str, client: Any) -> None:
        """Use a prepared client (a Stubber-wrapped one in tests)."""
        self._clients[service] = client

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self("sts").get_caller_identity()["Account"]
        return self._account_id

    @property
    def partition(self) -> str:
        return "aws-cn" if self.region.startswith("cn-") else "aws"
