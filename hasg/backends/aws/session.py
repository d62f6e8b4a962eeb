"""The EC2 client hasg uses, and botocore's errors turned into one-line HasgErrors.

Only this module decides how hasg talks to AWS. It reads the standard AWS
settings as the AWS CLI v2 and the other AWS SDKs do, where boto3 differs:
the region is --region, else AWS_REGION, else AWS_DEFAULT_REGION, else the
profile's (boto3 alone ignores AWS_REGION). Everything else the user set (the
profile, AWS_ENDPOINT_URL(_EC2), retry_mode and max_attempts in ~/.aws/config
or AWS_RETRY_MODE and AWS_MAX_ATTEMPTS) is botocore's to apply; hasg sets only
what nobody did: retries in `standard` mode, a connection pool as large as the
thread pool that shares the client, timeouts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.loaders import Loader
from botocore.parsers import ResponseParserError
from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

from hasg.core.version import __version__
from hasg.errors import AwsError, HasgError, UsageError

if TYPE_CHECKING:
    from botocore.config import _RetryDict
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
    the environment's). `region` and `endpoint_url` override the session's; a bad
    endpoint URL, wherever it comes from, is a UsageError before any call."""
    with aws_errors():
        if endpoint_url is not None:
            check_endpoint_url(endpoint_url, "--endpoint-url")
        if session is None:
            session = sharing_models(boto3.session.Session(profile_name=profile))
        region = region_of(session, region)
        if not region:
            raise UsageError(NO_REGION)
        if endpoint_url is None:
            _check_configured_endpoint_url(session)
        config = Config(
            retries=_retry_defaults(session, retry_mode),
            max_pool_connections=max(max_workers, 1),
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra=f"hasg/{__version__}",
        )
        try:
            client = session.client(
                "ec2", region_name=region, endpoint_url=endpoint_url, config=config
            )
        except InvalidRegionError:  # not even shaped like a host name label
            raise unknown_region(region) from None
        _check_region(session, region, client.meta.endpoint_url)
        return client


NO_REGION = "no AWS region: pass --region or set AWS_REGION"


def sharing_models(session: boto3.session.Session) -> boto3.session.Session:
    """`session`, reading botocore's data files (service models, endpoints)
    through one loader per search path for the whole process.

    A new session parses them again (five new sessions and clients: 182 ms
    each on average, 114 ms sharing the loader), on every call of the library
    that makes its own session. They are data files, read only; the search
    path (AWS_DATA_PATH, the profile's `data_path`, boto3's own) still decides
    which are read."""
    paths = tuple(session._loader.search_paths)
    loader = _loaders.get(paths)
    if loader is None:
        loader = _loaders[paths] = Loader(
            extra_search_paths=list(paths), include_default_search_paths=False
        )
    session._session.register_component("data_loader", loader)
    session._loader = loader
    return session


_loaders: dict[tuple[str, ...], Loader] = {}


def region_of(session: boto3.session.Session, region: str | None = None) -> str | None:
    """The region, in the AWS CLI v2's order: `region` (--region); one the session was
    built with; AWS_REGION; then boto3's own (AWS_DEFAULT_REGION, the profile's).

    The CLI v2 documents AWS_REGION as overriding AWS_DEFAULT_REGION and the
    profile's `region`; botocore reads only AWS_DEFAULT_REGION.
    """
    explicit = region or session._session.instance_variables().get("region")
    return explicit or os.environ.get("AWS_REGION") or session.region_name


def _retry_defaults(session: boto3.session.Session, retry_mode: RetryMode | None) -> _RetryDict:
    """The retry settings hasg adds to botocore's: `standard` mode unless the caller,
    AWS_RETRY_MODE or the profile's `retry_mode` chose one. Keys left out are
    botocore's to fill from the user's configuration (max_attempts too), which it
    does only for keys the client's Config does not set."""
    if retry_mode is not None:
        return {"mode": retry_mode}
    if os.environ.get("AWS_RETRY_MODE") or session._session.get_scoped_config().get("retry_mode"):
        return {}
    # Older botocore defaults to `legacy` mode, which retries a narrower set of
    # transient errors than `standard` (botocore's retries guide).
    return {"mode": "standard"}


def check_endpoint_url(url: str, source: str) -> None:
    """Refuse an endpoint URL botocore would take and then fail on, or crash on, at
    the first call: no http(s) scheme, no valid host, a bad port, spaces."""
    problem = _endpoint_url_problem(url)
    if problem:
        raise UsageError(
            f"{source}: {url!r} is not an endpoint URL ({problem}); "
            "e.g. http://127.0.0.1:5000 or https://ec2.us-east-1.amazonaws.com"
        )


def _endpoint_url_problem(url: str) -> str:
    if any(c.isspace() for c in url):
        return "it holds a space"
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unbalanced [ or ] around an IPv6 address
        return str(error)
    if parts.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    if not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        return "no valid host name"
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when it is read
    except ValueError as error:
        return str(error)
    return ""


def _check_configured_endpoint_url(session: boto3.session.Session) -> None:
    """The endpoint botocore will read from AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL or
    the profile, checked as --endpoint-url is."""
    core = session._session
    if core.get_config_variable("ignore_configured_endpoint_urls"):
        return
    configured = ConfiguredEndpointProvider(
        full_config=core.full_config, scoped_config=core.get_scoped_config(), client_name="ec2"
    ).provide()
    if not configured:
        return
    source = next(
        (name for name in ("AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL") if os.environ.get(name)),
        "endpoint_url in the AWS config file",
    )
    check_endpoint_url(configured, source)


def _check_region(session: boto3.session.Session, region: str, endpoint_url: str) -> None:
    """Refuse a region no AWS partition has, before its endpoint's DNS lookup fails.

    Only for AWS's own endpoints: a custom endpoint (moto, LocalStack) accepts
    any region name. A region botocore does not list yet still passes if it
    has the shape of its partition's regions, so an old botocore does not
    lock out a new region.
    """
    host = urlsplit(endpoint_url).hostname or ""
    if not host.endswith(_AWS_HOSTS):
        return
    partitions = session.get_available_partitions()
    if any(region in session.get_available_regions("ec2", p) for p in partitions):
        return
    endpoints = session._loader.load_data("endpoints")
    patterns = [p.get("regionRegex", "") for p in endpoints.get("partitions", [])]
    if any(pattern and re.match(pattern, region) for pattern in patterns):
        return
    raise unknown_region(region)


def unknown_region(region: str) -> UsageError:
    return UsageError(
        f"unknown AWS region {region!r}: check --region / AWS_REGION "
        "(for a local EC2 such as moto, pass --endpoint-url)"
    )


# Everything botocore raises about a call: AWS's refusals, the client's own
# failures, and an answer that is not the API's (botocore.parsers raises
# ResponseParserError, which is no BotoCoreError, for an HTML page from a
# proxy where EC2's XML should be).
BOTO_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
BotoError = ClientError | BotoCoreError | ResponseParserError


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn botocore's exceptions into AwsError one-liners."""
    try:
        yield
    except HasgError:
        raise
    except BOTO_ERRORS as error:
        raise translate(error) from error


def translate(error: BotoError) -> AwsError:
    if isinstance(error, ClientError):
        return _client_error(error)
    if isinstance(error, ResponseParserError):
        # botocore's message holds the whole page after its first line.
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        reason = first.split(". Further retries")[0]
        return AwsError(
            f"the endpoint answered something that is not EC2's API ({reason}); check "
            "--endpoint-url / AWS_ENDPOINT_URL, and any proxy (HTTPS_PROXY) between hasg and AWS"
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY, or run `aws configure` ({error})"
        )
    if isinstance(error, ProfileNotFound):
        return AwsError(f"{error}: check --profile / AWS_PROFILE and ~/.aws/config")
    if isinstance(error, NoRegionError):
        return AwsError(NO_REGION)
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
