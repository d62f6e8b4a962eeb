"""The AWS settings hasg reads as the AWS CLI v2 does: the region (AWS_REGION too),
the user's retry configuration, and endpoint URLs checked before any call."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hasg.backends.aws.session import make_client, sharing_models
from hasg.errors import UsageError


def shared_loader_session(region: str | None = None) -> boto3.session.Session:
    """A new session (it reads the environment now) that reuses the parsed EC2 model."""
    return sharing_models(boto3.session.Session(region_name=region))


def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "aws-config"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))


REGION_SOURCES = ("flag", "session", "AWS_REGION", "AWS_DEFAULT_REGION", "profile")


@settings(max_examples=25, deadline=None)
@given(st.sets(st.sampled_from(REGION_SOURCES), min_size=1))
def test_the_region_comes_from_the_first_source_the_aws_cli_v2_reads(
    sources: set[str],
) -> None:
    """--region, then a region the caller's session was built with, then AWS_REGION,
    AWS_DEFAULT_REGION and the profile's, each naming a region of its own."""
    region_of = {s: f"eu-west-{i + 1}" for i, s in enumerate(REGION_SOURCES)}
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as tmp:
        patch.delenv("AWS_DEFAULT_REGION", raising=False)
        patch.delenv("AWS_REGION", raising=False)
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if name in sources:
                patch.setenv(name, region_of[name])
        profile = f"[default]\nregion = {region_of['profile']}\n" if "profile" in sources else ""
        config_file(Path(tmp), patch, profile)
        session = shared_loader_session(region_of["session"] if "session" in sources else None)
        client = make_client(session, region=region_of["flag"] if "flag" in sources else None)
    first = next(s for s in REGION_SOURCES if s in sources)
    assert client.meta.region_name == region_of[first]


def test_aws_region_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert make_client().meta.region_name == "ap-south-1"
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(UsageError, match=r"^no AWS region: pass --region or set AWS_REGION$"):
        make_client()


@pytest.mark.parametrize(
    ("config", "environment", "retries"),
    [
        ("", {}, {"mode": "standard"}),
        ("retry_mode = adaptive\nmax_attempts = 7\n", {}, {"mode": "adaptive", "attempts": 7}),
        ("max_attempts = 2\n", {}, {"mode": "standard", "attempts": 2}),
        ("retry_mode = adaptive\n", {"AWS_RETRY_MODE": "legacy"}, {"mode": "legacy"}),
        ("max_attempts = 7\n", {"AWS_MAX_ATTEMPTS": "4"}, {"mode": "standard", "attempts": 4}),
    ],
)
def test_the_users_retry_configuration_wins_over_hasgs_default(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    environment: dict[str, str],
    retries: dict[str, object],
) -> None:
    config_file(tmp_path, monkeypatch, f"[default]\n{config}")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = make_client()
    configured = client.meta.config.retries or {}
    assert configured["mode"] == retries["mode"]
    assert configured.get("total_max_attempts") == retries.get("attempts")
    assert client.meta.config.max_pool_connections == 16  # what hasg sets itself


def test_a_named_profiles_retry_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file(tmp_path, monkeypatch, "[profile lab]\nretry_mode = adaptive\n")
    assert (make_client(profile="lab").meta.config.retries or {})["mode"] == "adaptive"
    assert (make_client().meta.config.retries or {})["mode"] == "standard"


hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "[::1]", "ec2.us-east-1.amazonaws.com", ""]),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
    st.text(max_size=8),
)
ports = st.one_of(
    st.none(), st.integers(-1, 70000).map(str), st.sampled_from(["", "abc", "5000 ", "0x10"])
)
schemes = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "http:/", "//"])


@settings(max_examples=150, deadline=None)
@given(schemes, hosts, ports, st.sampled_from(["", "/", "/path", " "]))
def test_an_endpoint_url_is_either_refused_up_front_or_usable(
    scheme: str, host: str, port: str | None, tail: str
) -> None:
    """Accepted: botocore builds the client on it, with the host and port it says.
    Refused: one line naming the flag and the URL, and no client."""
    url = f"{scheme}{host}{'' if port is None else ':' + port}{tail}"
    try:
        client = make_client(shared_loader_session(), region="us-east-1", endpoint_url=url)
    except UsageError as error:
        assert str(error).startswith(f"--endpoint-url: {url!r} is not an endpoint URL (")
        assert "\n" not in str(error)
        return
    used = urlsplit(client.meta.endpoint_url)
    assert used.scheme in ("http", "https")
    assert used.hostname and used.hostname == urlsplit(url).hostname
    assert used.port == urlsplit(url).port
    assert 0 <= (used.port or 0) <= 65535
    assert not any(c.isspace() for c in url)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"])
def test_a_malformed_configured_endpoint_is_refused_and_named(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "localhost:5055")
    with pytest.raises(UsageError) as raised:
        make_client(region="us-east-1")
    assert str(raised.value).startswith(f"{variable}: 'localhost:5055' is not an endpoint URL")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")  # botocore: ignore it
    assert make_client(region="us-east-1").meta.endpoint_url.startswith("https://ec2.")


def test_a_malformed_endpoint_in_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file(tmp_path, monkeypatch, "[default]\nendpoint_url = 127.0.0.1:5000\n")
    with pytest.raises(UsageError) as raised:
        make_client(region="us-east-1")
    assert str(raised.value).startswith(
        "endpoint_url in the AWS config file: '127.0.0.1:5000' is not an endpoint URL"
    )


def test_clients_share_botocore_models_and_aws_data_path_still_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sessions hasg makes parse EC2's model once per process (it is most of
    a client's cost); a model the user put on AWS_DATA_PATH is still the one read."""
    first = make_client(region="us-east-1")
    second = make_client(region="us-east-1")
    assert first is not second
    model = first.meta.service_model
    assert second.meta.service_model._service_description is model._service_description

    loader = botocore.session.Session().get_component("data_loader")
    version = loader.determine_latest_version("ec2", "service-2")
    custom = loader.load_service_model("ec2", "service-2", version)
    custom["metadata"] = {**custom["metadata"], "serviceFullName": "EC2 as the user patched it"}
    where = tmp_path / "models" / "ec2" / version
    where.mkdir(parents=True)
    (where / "service-2.json").write_text(json.dumps(custom), encoding="utf-8")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    patched = make_client(region="us-east-1")
    assert patched.meta.service_model.metadata["serviceFullName"] == "EC2 as the user patched it"
    monkeypatch.delenv("AWS_DATA_PATH")
    again = make_client(region="us-east-1")
    assert again.meta.service_model.metadata["serviceFullName"] == model.metadata["serviceFullName"]
    assert model.metadata["serviceFullName"] != "EC2 as the user patched it"
