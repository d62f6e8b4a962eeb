"""Inventories: Chef Automate HA's config.toml as chef-automate writes it, and
the YAML/JSON form; every bad one refused with file:line:column."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hasg
from hasg.errors import InventoryError
from hasg.hosts.inventory import load_chef_config, load_inventory, load_inventory_text
from hasg.hosts.resolve import host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.test_hostile_inventories import independent_verdict

CONFIG = (FIXTURES / "config.toml").read_text(encoding="utf-8")


def refused(text: str, *, toml: bool = True) -> str:
    with pytest.raises(InventoryError) as caught:
        if toml:
            load_chef_config(text, name="config.toml")
        else:
            load_inventory_text(text, name="hosts.yaml")
    return str(caught.value)


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_config_toml_as_chef_automate_writes_it_comments_and_all() -> None:
    inventory = load_inventory(FIXTURES / "config.toml")
    assert inventory.roles == ("automate", "chef_server", "opensearch", "postgresql")
    assert [h.name for h in inventory.hosts_of("opensearch")] == [
        "198.18.0.30",
        "198.18.0.31",
        "198.18.0.32",
    ]
    assert inventory.ssh_port == 22
    assert not inventory.external_roles
    assert not inventory.networks  # the vpc peer needs --network


def test_bastion_and_networks_come_from_the_command_line() -> None:
    inventory = load_inventory(FIXTURES / "config.toml").with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    assert [h.name for h in inventory.hosts_of("bastion")] == ["198.18.0.5"]
    assert inventory.networks == ("198.18.0.0/24",)


def test_a_custom_ssh_port_is_read_and_must_match_the_policy() -> None:
    text = CONFIG.replace('ssh_port = "22"', 'ssh_port = "2222"')
    inventory = load_chef_config(text).with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    assert inventory.ssh_port == 2222
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    with pytest.raises(InventoryError, match="SSH on 2222, but the policy opens 22"):
        host_rulesets(blueprint, inventory, ssh_port=22)
    matching = hasg.compile_policy(hasg.chef_automate_ha(ssh_port=2222))
    rulesets = host_rulesets(matching, inventory, ssh_port=2222)
    assert any(r.from_port == 2222 for rs in rulesets for r in rs.rules)


def test_a_wrong_ip_is_refused_at_its_line_and_column() -> None:
    text = CONFIG.replace('"198.18.0.31"', '"198.18.0.300"')
    message = refused(text)
    line = line_of(text, "198.18.0.300")
    column = text.splitlines()[line - 1].index('"198.18.0.300"') + 1
    assert message.startswith(f"config.toml:{line}:{column}: existing_infra.config.opensearch")
    assert "'198.18.0.300' is not an IPv4 or IPv6 address" in message
    assert "\n" not in message


def test_a_host_in_two_roles_is_refused() -> None:
    text = CONFIG.replace('"198.18.0.41"', '"198.18.0.31"')
    message = refused(text)
    assert "198.18.0.31 is listed in opensearch and in postgresql" in message
    assert f"config.toml:{line_of(text, 'postgresql_private_ips')}:1:" in message


def test_instance_counts_that_disagree_with_the_ip_lists_are_refused() -> None:
    text = CONFIG.replace('instance_count = "3"\n\n# Set enable_custom_certs = true to provide '
                          "custom certificates during deployment\nenable_custom_certs = false\n"
                          "# Add postgresql", 'instance_count = "4"\n\n# Set enable_custom_certs = '
                          "true to provide custom certificates during deployment\n"
                          "enable_custom_certs = false\n# Add postgresql")  # fmt: skip
    assert text != CONFIG
    message = refused(text)
    assert "lists 3 addresses, but [postgresql.config] instance_count is 4" in message
    assert message.startswith(f"config.toml:{line_of(text, 'postgresql_private_ips')}:1:")


def test_broken_toml_names_line_and_column() -> None:
    text = CONFIG.replace(
        'automate_private_ips = ["198.18.0.10", "198.18.0.11"]', "automate_private_ips = ["
    )
    message = refused(text)
    assert message.startswith("config.toml:")
    assert "broken TOML" in message
    assert int(message.split(":")[1]) >= line_of(text, "automate_private_ips = [")


def test_an_aws_config_is_not_an_inventory() -> None:
    text = CONFIG.replace("[architecture.existing_infra]", "[architecture.aws]")
    assert "not an on-premises (existing_infra) config.toml (architecture: aws)" in refused(text)


def test_external_databases_have_no_hosts_of_ours() -> None:
    text = CONFIG.replace('type = ""', 'type = "self-managed"')
    message = refused(text)  # the IPs are still listed
    assert "runs postgresql elsewhere" in message
    emptied = text
    for role in ("opensearch", "postgresql"):
        start = emptied.index(f"{role}_private_ips = [")
        end = emptied.index("]", start) + 1
        emptied = emptied[:start] + f"{role}_private_ips = []" + emptied[end:]
    inventory = load_chef_config(emptied).with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    assert inventory.external_roles == {"opensearch", "postgresql"}
    assert inventory.roles == ("automate", "bastion", "chef_server")
    managed = hasg.compile_policy(
        hasg.chef_automate_ha(managed_postgresql=True, managed_opensearch=True)
    )
    assert host_rulesets(managed, inventory)  # egress open: nothing needs their addresses
    with pytest.raises(InventoryError, match=r"role postgresql has no hosts.*external database"):
        host_rulesets(managed, inventory, egress=True)


def test_an_empty_role_the_policy_needs_is_refused_where_the_file_names_it() -> None:
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    inventory = load_chef_config(CONFIG, name="config.toml").with_options(
        networks=["198.18.0.0/24"]
    )
    with pytest.raises(InventoryError, match=r"role bastion has no hosts.*give --bastion"):
        host_rulesets(blueprint, inventory)
    text = "roles:\n  automate: [198.18.0.10]\n  bastion: []\nnetworks: [198.18.0.0/24]\n"
    with pytest.raises(InventoryError) as caught:
        host_rulesets(blueprint, load_inventory_text(text, name="hosts.yaml"))
    assert str(caught.value).startswith("hosts.yaml:3:3: bastion: role bastion has no hosts")


def test_the_vpc_peer_needs_networks() -> None:
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    inventory = load_chef_config(CONFIG).with_options(bastion=["198.18.0.5"])
    with pytest.raises(InventoryError, match="name the vpc peer; give --network CIDR") as caught:
        host_rulesets(blueprint, inventory)
    (problem,) = caught.value.problems  # one, whatever the number of rules
    assert problem.message.startswith("4 rules of automate, chef_server (the first: ")


def test_yaml_inventory_dual_stack_hosts_and_errors_with_positions() -> None:
    inventory = load_inventory(FIXTURES / "lab.yaml")
    assert [str(a) for a in inventory.hosts_of("automate")[0].addresses] == [
        "198.18.0.10",
        "fd00:18::10",
    ]
    text = (
        "roles:\n  automate:\n    - 198.18.0.10\n    - fe80::1%eth0\n"
        "networks: [10.0.0.1/8]\nextra: 1\n"
    )
    message = refused(text, toml=False)
    assert "hosts.yaml:4:7: roles.automate: 'fe80::1%eth0' has an IPv6 zone id" in message
    assert "hosts.yaml:5:12: networks: 10.0.0.1/8 has host bits set" in message
    assert "hosts.yaml:6:1: extra: unknown key" in message
    twice = refused("roles:\n  a: [10.0.0.1]\n  a: [10.0.0.2]\n", toml=False)
    assert twice == "hosts.yaml:3:3: roles: 'a' is given twice"


def test_a_host_in_two_roles_is_placed_in_yaml_too() -> None:
    text = "roles:\n  automate: [198.18.0.10]\n  bastion: [198.18.0.5, 198.18.0.010]\n"
    assert "not an IPv4 or IPv6 address" in refused(text, toml=False)  # no octal spelling
    text = "roles:\n  automate: [fd00::a]\n  bastion: ['FD00:0::A']\n"
    assert refused(text, toml=False) == (
        "hosts.yaml:3:3: roles.bastion: fd00::a is listed in automate and in bastion; "
        "a host firewall serves one role"
    )
    inventory = load_inventory_text("roles:\n  automate: [[198.18.0.10, 'fd00::a']]\n")
    assert inventory.host("FD00:0:0::A").name == "198.18.0.10"
    with pytest.raises(InventoryError, match=r"no host has the address 198\.18\.0\.11"):
        inventory.host("198.18.0.11")


def test_json_inventories_read_the_same() -> None:
    document = {"roles": {"automate": ["198.18.0.10"], "bastion": [["198.18.0.5", "fd00:18::5"]]}}
    inventory = load_inventory_text(json.dumps(document, indent=2), name="hosts.json")
    assert [h.name for h in inventory.hosts] == ["198.18.0.10", "198.18.0.5"]


def test_a_role_the_policy_does_not_have_is_refused() -> None:
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    inventory = load_inventory_text("roles:\n  web: [198.18.0.9]\n", name="hosts.yaml")
    with pytest.raises(InventoryError, match=r"hosts\.yaml:2:3: web: role web is not a role"):
        host_rulesets(blueprint, inventory)


# One IPv6 address, spelled many ways: a host listed twice under other spellings is one host.
_IPV6 = st.integers(min_value=1, max_value=2**64).map(
    lambda n: ipaddress.IPv6Address((0xFD00 << 112) | n)
)


@st.composite
def spellings(draw: st.DrawFn, address: ipaddress.IPv6Address) -> str:
    groups = address.exploded.split(":")
    form = draw(st.sampled_from(["exploded", "compressed", "upper", "unpadded"]))
    if form == "exploded":
        return address.exploded
    if form == "upper":
        return address.compressed.upper()
    if form == "unpadded":
        return ":".join(g.lstrip("0") or "0" for g in groups)
    return address.compressed


@given(data=st.data(), address=_IPV6)
def test_one_address_in_two_roles_is_refused_whatever_its_spelling(
    data: st.DataObject, address: ipaddress.IPv6Address
) -> None:
    first, second = data.draw(spellings(address)), data.draw(spellings(address))
    text = json.dumps({"roles": {"automate": [first], "postgresql": [second]}})
    assert "is listed in automate and in postgresql" in refused(text, toml=False)


@given(st.text(min_size=1, max_size=40))
def test_no_text_but_an_address_passes_for_one(text: str) -> None:
    try:
        address = ipaddress.ip_address(text)
        valid = independent_verdict(address)
    except ValueError:
        valid = False
    document = json.dumps({"roles": {"automate": [text]}})
    if valid and text.isascii() and text.isprintable():
        assert load_inventory_text(document).hosts[0].addresses == (address,)
    else:
        with pytest.raises(InventoryError):
            load_inventory_text(document)


def test_loading_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- SSH settings


def test_config_toml_gives_the_ssh_user_and_key_as_chef_automate_reads_them() -> None:
    inventory = load_inventory(FIXTURES / "config.toml")
    assert (inventory.ssh_user, inventory.ssh_key_file) == ("ubuntu", "~/.ssh/A2HA.pem")
    assert inventory.places["ssh_key_file"] == (line_of(CONFIG, "ssh_key_file = "), 1)
    # Chef's template leaves them "" until filled in: unset, as ssh's own defaults.
    blank = CONFIG.replace('ssh_user = "ubuntu"', 'ssh_user = ""').replace(
        'ssh_key_file = "~/.ssh/A2HA.pem"', 'ssh_key_file = ""'
    )
    inventory = load_chef_config(blank)
    assert (inventory.ssh_user, inventory.ssh_key_file) == (None, None)


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ('ssh_user = "-oProxyCommand=x"', "'-oProxyCommand=x' is not a user name"),
        ('ssh_user = "a b"', "'a b' is not a user name"),
        ("ssh_user = 7", "7 is not a user name"),
        ('ssh_key_file = "key\\n"', "is not a private key file's path"),
    ],
)
def test_a_bad_ssh_setting_in_config_toml_is_refused_where_it_is(written: str, why: str) -> None:
    key = written.split(" ")[0]
    original = next(line for line in CONFIG.splitlines() if line.startswith(f"{key} = "))
    text = CONFIG.replace(f"\n{original}", f"\n{written}")  # not the comment that shows it
    message = refused(text)
    assert message.startswith(
        f"config.toml:{line_of(text, written)}:1: architecture.existing_infra.{key}: "
    )
    assert why in message


def test_a_yaml_inventory_carries_the_same_ssh_settings() -> None:
    text = (
        "roles:\n  automate: [198.18.0.10]\n"
        "ssh_user: ec2-user\nssh_key_file: /keys/a2ha.pem\nssh_port: 2222\n"
    )
    inventory = load_inventory_text(text, name="hosts.yaml")
    assert (inventory.ssh_user, inventory.ssh_key_file, inventory.ssh_port) == (
        "ec2-user",
        "/keys/a2ha.pem",
        2222,
    )
    assert inventory.problem("ssh_key_file", "x").line == 4
    message = refused("roles:\n  automate: [198.18.0.10]\nssh_user: [a, b]\n", toml=False)
    assert message == "hosts.yaml:3:11: ssh_user: should be a single value"


def test_a_role_without_hosts_may_stand_for_nobody_when_asked() -> None:
    """What `hasg probe` resolves: the hosts that exist, and rules naming an
    absent role matching no address (the probe reports that role apart)."""
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    inventory = load_inventory_text(
        "roles:\n  bastion: [198.18.0.5]\n  postgresql: [198.18.0.40]\nnetworks: [198.18.0.0/24]\n"
    )
    with pytest.raises(InventoryError, match="role automate has no hosts"):
        host_rulesets(blueprint, inventory)
    (_, postgresql) = host_rulesets(blueprint, inventory, absent_roles=True)
    peers = {r.peer for r in postgresql.rules}
    assert "role_bastion_ipv4" in peers
    assert not any("automate" in peer or "chef_server" in peer for peer in peers)
