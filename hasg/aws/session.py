"""The EC2 client hasg uses, and botocore's errors turned into one-line HasgErrors.

Only this module decides how hasg talks to AWS: retries in botocore's
`standard` mode (or `adaptive`, if AWS_RETRY_MODE says so), a connection pool
as large as the thread pool that shares the client, and the standard AWS
settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...) left to boto3.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.loaders import create_loader

from hasg import __version__
from hasg.errors import AwsError, HasgError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

RetryMode = Literal["standard", "adaptive"]

# Independent calls of one phase run at once. 16 puts a cluster of five groups
# (up to 15 rule calls) in one wave; EC2 throttles bursts much larger than that,
# and botocore's retries absorb a throttled call.
DEFAULT_WORKERS = 16

_ACCESS_DENIED = frozenset(
    {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "OptInRequired"}
)
_BAD_CREDENTIALS = frozenset(
    {"AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"}
)
_THROTTLED = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")
# EC2 appends a long encoded blob to UnauthorizedOperation; it is not for a terminal.
_ENCODED_MESSAGE = re.compile(r"\s*Encoded authorization failure message:.*", re.DOTALL)


def make_client(
    session: boto3.session.Session | None = None,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    retry_mode: RetryMode | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> EC2Client:
    """An EC2 client for `session`, or for a new boto3 session of `profile` (default:
    the environment's). `region` and `endpoint_url` override the session's."""
    with aws_errors():
        if session is None:
            session = boto3.session.Session(profile_name=profile)
        region = region or session.region_name
        if not region:
            raise HasgError("no AWS region: pass --region or set AWS_REGION")
        config = Config(
            retries={"mode": retry_mode or _retry_mode_from_environment()},
            max_pool_connections=max(max_workers, 1),
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra=f"hasg/{__version__}",
        )
        client = session.client("ec2", region_name=region, endpoint_url=endpoint_url, config=config)
        _check_region(session, region, client.meta.endpoint_url)
        return client


def _retry_mode_from_environment() -> RetryMode:
    return "adaptive" if os.environ.get("AWS_RETRY_MODE") == "adaptive" else "standard"


def _check_region(session: boto3.session.Session, region: str, endpoint_url: str) -> None:
    """Refuse a region no AWS partition has, before its endpoint's DNS lookup fails.

    Only for AWS's own endpoints: a custom endpoint (moto, LocalStack) accepts
    any region name. A region botocore does not list yet still passes if it
    has the shape of its partition's regions, so an old botocore does not
    lock out a new region.
    """
    host = urlparse(endpoint_url).hostname or ""
    if not host.endswith(_AWS_HOSTS):
        return
    partitions = session.get_available_partitions()
    if any(region in session.get_available_regions("ec2", p) for p in partitions):
        return
    endpoints = create_loader().load_data("endpoints")
    patterns = [p.get("regionRegex", "") for p in endpoints.get("partitions", [])]
    if any(pattern and re.match(pattern, region) for pattern in patterns):
        return
    raise HasgError(
        f"unknown AWS region {region!r}: check --region / AWS_REGION "
        "(for a local EC2 such as moto, pass --endpoint-url)"
    )


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn botocore's exceptions into AwsError one-liners."""
    try:
        yield
    except HasgError:
        raise
    except (ClientError, BotoCoreError) as error:
        raise translate(error) from error


def translate(error: ClientError | BotoCoreError) -> AwsError:
    if isinstance(error, ClientError):
        return _client_error(error)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY, or run `aws configure` ({error})"
        )
    if isinstance(error, ProfileNotFound):
        return AwsError(f"{error}: check --profile / AWS_PROFILE and ~/.aws/config")
    if isinstance(error, NoRegionError):
        return AwsError("no AWS region: pass --region or set AWS_REGION")
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        url = error.kwargs.get("endpoint_url", "the EC2 endpoint")
        return AwsError(
            f"cannot reach {url}: check --endpoint-url / AWS_ENDPOINT_URL, --region and the network"
        )
    if isinstance(error, ConnectionClosedError | ReadTimeoutError):
        url = error.kwargs.get("endpoint_url", "the EC2 endpoint")
        return AwsError(f"lost the connection to {url} before it answered")
    return AwsError(f"AWS: {error}")


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def _client_error(error: ClientError) -> AwsError:
    code = error_code(error)
    operation = error.operation_name
    message = _ENCODED_MESSAGE.sub("", str(error.response.get("Error", {}).get("Message", "")))
    if code in _ACCESS_DENIED:
        text = (
            f"access denied: {operation} ({code}: {message}); docs/aws.md lists "
            "the IAM permissions hasg needs"
        )
    elif code in _BAD_CREDENTIALS:
        text = f"AWS rejected the credentials ({code}: {message})"
    elif code in _THROTTLED:
        text = (
            f"{operation}: EC2 is still throttling after retries ({code}); try again "
            "later, or set AWS_RETRY_MODE=adaptive"
        )
    else:
        text = f"{operation} failed: {code}: {message}"
    return AwsError(text, code=code, operation=operation)
