"""Reading hasg's groups from EC2."""

from __future__ import annotations

from botocore.stub import Stubber

from hasg.backends.aws.read import Vpc, read_groups
from hasg.backends.aws.session import make_client
from hasg.core.blueprint import group_name, ownership_tags

from .conftest import REGION


def test_hasgs_groups_are_read_across_pages() -> None:
    """moto answers in one page; AWS may not. botocore's Stubber plays AWS here."""
    client = make_client(region=REGION)
    filters = [
        {"Name": "vpc-id", "Values": ["vpc-0123456789abcdef0"]},
        {"Name": "tag:managed-by", "Values": ["hasg"]},
        {"Name": "tag:hasg:cluster", "Values": ["c"]},
        {"Name": "tag-key", "Values": ["hasg:role"]},
    ]

    def group(role: str) -> dict[str, object]:
        tags = [{"Key": k, "Value": v} for k, v in ownership_tags("c", role).items()]
        name = group_name("c", role)
        return {"GroupId": f"sg-0{role}", "GroupName": name, "Description": role, "Tags": tags}

    with Stubber(client) as stub:
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [group("web")], "NextToken": "page-2"},
            {"Filters": filters},
        )
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [group("db")]},
            {"Filters": filters, "NextToken": "page-2"},
        )
        live = read_groups(client, Vpc("vpc-0123456789abcdef0", "10.0.0.0/16"), "c")
    assert live.group_ids == {"db": "sg-0db", "web": "sg-0web"}
