"""A moto server whose CloudFormation creates security group rules as AWS documents.

moto 5.2.5's CloudFormation skips AWS::EC2::SecurityGroupEgress (a warning, yet
CREATE_COMPLETE), ignores a group's inline SecurityGroupEgress (so AWS's
default allow-all egress stays), creates no CidrIpv6 ingress, answers HTTP 500
to an ingress from a SourcePrefixListId alone, drops the descriptions of group
pairs and prefix lists, and leaves the old rule in place when a parameter
changes; nor does it split a CommaDelimitedList's Default into a list.
`cloudformation_like_aws` completes those two resource handlers to the
CloudFormation User Guide (AWS::EC2::SecurityGroup, ...Ingress, ...Egress):
each rule is authorized through moto's own EC2 backend exactly as the
AuthorizeSecurityGroup* API would, with its one peer and its description, and
revoked on delete or replacement. test_deploy.py shows stock moto failing where
this holds. `stack_sets_like_aws` adds the one StackSets behaviour the
deployment tests need (an instance's overrides merged into the stack set's
values); test_stacksets.py shows stock moto without it.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

# EC2-level behaviour of moto made EC2's (protocol spellings, rule matching
# without descriptions, prefix list descriptions kept): the fixtures the AWS
# backend's and Terraform's tests use. The moto server (`server`) runs in this
# process, so they apply to it too.
from aws.conftest import (  # noqa: F401
    _moto_answers_protocols_like_ec2,
    _moto_matches_group_references_like_aws,
)
from aws.test_cli_e2e import server  # noqa: F401
from terraform.conftest import checkov  # noqa: F401
from terraform.test_equivalence import _moto_keeps_prefix_list_descriptions_like_ec2  # noqa: F401

REGION = "us-east-1"
_PEERS = {
    "CidrIp": "ip_ranges",
    "CidrIpv6": "ip_ranges",
    "SourceSecurityGroupId": "source_groups",
    "DestinationSecurityGroupId": "source_groups",
    "SourcePrefixListId": "prefix_list_ids",
    "DestinationPrefixListId": "prefix_list_ids",
}
_PEER_KEY = {"source_groups": "GroupId", "prefix_list_ids": "PrefixListId"}


def _permission(properties: dict[str, Any]) -> dict[str, Any]:
    """An AuthorizeSecurityGroup* request of moto's EC2 backend for one rule.
    CloudFormation requires exactly one peer property per rule."""
    peers = [p for p in _PEERS if p in properties]
    if len(peers) != 1:
        raise ValueError(f"a rule takes exactly one peer property, not {peers}")
    peer = peers[0]
    entry = {_PEER_KEY.get(_PEERS[peer], peer): properties[peer]}
    if "Description" in properties:
        entry["Description"] = properties["Description"]
    request: dict[str, Any] = {
        "ip_protocol": str(properties["IpProtocol"]),
        "from_port": properties.get("FromPort"),
        "to_port": properties.get("ToPort"),
        "ip_ranges": [],
        "source_groups": [],
        "prefix_list_ids": [],
    }
    request[_PEERS[peer]] = [entry]
    return request


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


class RuleResource:
    """One AWS::EC2::SecurityGroupIngress or ...Egress: authorized on create,
    revoked on delete, replaced (revoke, authorize) on update."""

    direction = "ingress"

    def __init__(self, backend: Any, group_id: str, request: dict[str, Any]) -> None:
        self.backend = backend
        self.group_id = group_id
        self.request = request
        self.physical_resource_id = f"{group_id}-{id(self):x}"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> RuleResource:
        properties = cloudformation_json["Properties"]
        backend = _ec2(account_id, region_name)
        request = _permission(properties)
        group_id = properties["GroupId"]
        authorize = getattr(backend, f"authorize_security_group_{cls.direction}")
        authorize(group_id, **request)
        return cls(backend, group_id, request)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: RuleResource,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> RuleResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        raise AssertionError("deleted through the resource's delete()")

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        if self.backend.get_security_group_from_id(self.group_id) is None:
            return  # a group's rules go with it (moto may delete the group first)
        revoke = getattr(self.backend, f"revoke_security_group_{self.direction}")
        revoke(self.group_id, **self.request)


class EgressResource(RuleResource):
    direction = "egress"


class GroupResource:
    """AWS::EC2::SecurityGroup, and its inline SecurityGroupEgress: listing one
    removes AWS's default allow-all egress rules (User Guide, AWS::EC2::SecurityGroup)."""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        from moto.ec2.models.security_groups import SecurityGroup

        properties = cloudformation_json["Properties"]
        if properties.get("SecurityGroupIngress"):
            raise AssertionError("inline ingress is not completed by this fixture")
        stripped = {
            **cloudformation_json,
            "Properties": {k: v for k, v in properties.items() if k != "SecurityGroupEgress"},
        }
        group = SecurityGroup.create_from_cloudformation_json(
            resource_name, stripped, account_id, region_name, **kwargs
        )
        inline = properties.get("SecurityGroupEgress", [])
        if inline:
            group.egress_rules = []
            backend = _ec2(account_id, region_name)
            for rule in inline:
                backend.authorize_security_group_egress(group.id, **_permission(rule))
        return group

    @classmethod
    def update_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no test updates a group resource")

    @classmethod
    def delete_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> None:
        from moto.ec2.models.security_groups import SecurityGroup

        SecurityGroup.delete_from_cloudformation_json(*args, **kwargs)


@pytest.fixture
def cloudformation_like_aws(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """moto's CloudFormation with the security group handlers completed (module doc)."""
    request.getfixturevalue("_moto_keeps_prefix_list_descriptions_like_ec2")
    from moto.cloudformation import parsing

    stock = parsing.get_model_map()
    completed = {
        **stock,
        "AWS::EC2::SecurityGroup": GroupResource,
        "AWS::EC2::SecurityGroupIngress": RuleResource,
        "AWS::EC2::SecurityGroupEgress": EgressResource,
    }
    monkeypatch.setattr(parsing, "get_model_map", lambda: completed)

    # moto splits a CommaDelimitedList given as a parameter, not its Default:
    # `Fn::Select [0, Ref: List]` of a default would pick a character.
    load_parameters = parsing.ResourceMap.load_parameters

    def load_parameters_splitting_defaults(self: Any) -> None:
        load_parameters(self)
        for name, slot in self._template.get("Parameters", {}).items():
            value = self.resolved_parameters.get(name)
            if slot.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                self.resolved_parameters[name] = self._parsed_resources[name] = value.split(",")

    monkeypatch.setattr(parsing.ResourceMap, "load_parameters", load_parameters_splitting_defaults)


@pytest.fixture
def session(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> boto3.session.Session:
    """A boto3 session whose clients (hasg's apply's too) talk to the moto server."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue("server"))
    return boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stack_sets_like_aws(monkeypatch: pytest.MonkeyPatch, cloudformation_like_aws: None) -> None:
    """moto's StackSets with a stack instance's parameters as AWS makes them.

    moto 5.2.5 gives an instance its ParameterOverrides *instead of* the stack
    set's parameters, so a parameter the overrides leave out is missing
    (test_stacksets.py shows it). AWS overrides only the parameters named
    (CreateStackInstances, ParameterOverrides: "stack set parameters whose
    values you want to override"); the others keep the stack set's values.
    """
    from moto.cloudformation.models import StackSet

    create = StackSet.create_stack_instances

    def create_overriding(
        self: Any,
        accounts: list[str],
        regions: list[str],
        deployment_targets: dict[str, Any] | None,
        parameters: list[dict[str, Any]],
    ) -> str:
        values = {**self.parameters, **{p["ParameterKey"]: p["ParameterValue"] for p in parameters}}
        merged = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
        return str(create(self, accounts, regions, deployment_targets, merged))

    monkeypatch.setattr(StackSet, "create_stack_instances", create_overriding)
