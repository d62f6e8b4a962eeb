"""One contract over every registered backend (hasg/backends/base.py).

For each target `hasg emit` knows: its output is deterministic and byte-stable
(across processes and input order), every rule appears (read back with the
target's own reader, or the kernel's for nftables), hostile descriptions
change nothing that is read back, and a peer kind it cannot express is
refused with the rule named. A target registered without an example here
fails `test_every_target_has_an_example`: a new target brings its example.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends.base import (
    ALL_PEER_KINDS,
    Backend,
    Capabilities,
    check_file_name,
    load_backend,
    target_names,
)
from hasg.backends.nftables import write
from hasg.backends.nftables.ruleset import read_ruleset
from hasg.core.blueprint import Blueprint, Peer, PeerKind, Rule, SecurityGroup
from hasg.core.protocols import canonical_protocol, has_ports
from hasg.core.tags import ownership_tags
from hasg.errors import UsageError
from hasg.hosts.inventory import Inventory, load_inventory, load_inventory_text
from hasg.hosts.resolve import (
    HostRule,
    HostRuleset,
    as_blueprint,
    cidr_rule,
    host_group,
    host_rulesets,
)

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "hosts" / "fixtures" / "lab.yaml"
# Text that breaks out of a quoted string, a template, an XML comment or an
# nft comment unless it is escaped.
HOSTILE = (
    'a "quote" and \\ backslash ${var.x} %{if x} -- --> <!-- ]]> &amp; <rule/> '
    "'single' ; } accept # é ∀ 🦊"
)
TWO_ROLES = load_inventory_text(
    "roles:\n  app: [[198.18.1.1, 'fd00:18:1::1']]\n  peer: [[198.18.1.2, 'fd00:18:1::2']]\n"
    "networks: [198.18.1.0/24, 'fd00:18:1::/64']\n",
    name="two-roles.yaml",
)


@dataclass(frozen=True)
class Example:
    """A Blueprint a target can express, its options, and what its reader
    (or the kernel) must give back: the Blueprint itself, or for a host
    target the per-host form (hosts.as_blueprint)."""

    blueprint: Blueprint
    options: Mapping[str, Any] = field(default_factory=dict)
    expected: Blueprint | None = None
    inventory: Inventory | None = None

    @property
    def read_back(self) -> Blueprint:
        return self.blueprint if self.expected is None else self.expected


def chef() -> Blueprint:
    return hasg.compile_policy(hasg.chef_automate_ha())


def hostile_rules(kinds: frozenset[PeerKind]) -> tuple[Rule, ...]:
    """Rules of every protocol form toward every peer kind a target takes."""
    peers = {
        "group": Peer("group", "peer"),
        "cidr_ipv4": Peer("cidr_ipv4", "203.0.113.0/24"),
        "cidr_ipv6": Peer("cidr_ipv6", "2001:db8::/32"),
        "vpc": Peer("vpc"),
        "prefix_list": Peer("prefix_list", "pl-0123456789abcdef0"),
    }
    traffic = [("tcp", 443, 443), ("udp", 9000, 9100), ("icmp", 8, -1), ("50", -1, -1)]
    rules = []
    for kind, peer in peers.items():
        if kind not in kinds:
            continue
        for protocol, low, high in traffic:
            if protocol == "icmp" and kind not in ("cidr_ipv4", "cidr_ipv6"):
                continue  # a role or the VPC may hold both families: ICMP is per family
            if protocol == "icmp" and kind == "cidr_ipv6":
                # ICMP toward an IPv6 peer is ICMPv6, whose echo request is type 128.
                protocol, low = "icmpv6", 128
            rules.append(Rule("ingress", protocol, low, high, peer, f"{HOSTILE} {kind}"))
    return tuple(rules)


def two_roles(kinds: frozenset[PeerKind]) -> Blueprint:
    app = SecurityGroup("app", "c-app", "the app", ownership_tags("c", "app"), hostile_rules(kinds))
    peer = SecurityGroup("peer", "c-peer", "its peer", ownership_tags("c", "peer"))
    return Blueprint("c", (app, peer))


def host_example(inventory: Inventory, blueprint: Blueprint, egress: str, path: Path) -> Example:
    rulesets = host_rulesets(blueprint, inventory, egress=egress == "enforce", ssh_port=22)
    return Example(
        blueprint,
        {"inventory": path, "egress": egress, "ssh_port": 22},
        as_blueprint(blueprint.cluster, rulesets),
        inventory,
    )


def two_roles_file(tmp: Path) -> Path:
    path = tmp / "two-roles.yaml"
    path.write_text(
        "roles:\n  app: [[198.18.1.1, 'fd00:18:1::1']]\n  peer: [[198.18.1.2, 'fd00:18:1::2']]\n"
        "networks: [198.18.1.0/24, 'fd00:18:1::/64']\n",
        encoding="utf-8",
    )
    return path


def terraform_examples(tmp: Path) -> list[Example]:
    with_lists = two_roles(ALL_PEER_KINDS)
    return [Example(chef()), Example(with_lists)]


def nftables_examples(tmp: Path) -> list[Example]:
    host_kinds = load_backend("nftables").peer_kinds
    lab = load_inventory(LAB)
    return [
        host_example(lab, chef(), "open", LAB),
        host_example(lab, chef(), "enforce", LAB),
        host_example(TWO_ROLES, two_roles(host_kinds), "enforce", two_roles_file(tmp)),
    ]


def firewalld_examples(tmp: Path) -> list[Example]:
    host_kinds = load_backend("firewalld").peer_kinds
    lab = load_inventory(LAB)
    return [
        host_example(lab, chef(), "open", LAB),
        host_example(TWO_ROLES, two_roles(host_kinds), "open", two_roles_file(tmp)),
    ]


def cloudformation_examples(tmp: Path) -> list[Example]:
    # A template keeps a CIDR list as a parameter only when the list has CIDRs.
    with_lists = hasg.compile_policy(
        hasg.chef_automate_ha(
            user_cidrs=["198.51.100.0/24", "2001:db8::/48"], admin_cidrs=["203.0.113.7/32"]
        )
    )
    every_kind = two_roles(ALL_PEER_KINDS)
    return [Example(with_lists), Example(every_kind), Example(every_kind, {"format": "json"})]


EXAMPLES: dict[str, Callable[[Path], list[Example]]] = {
    "cloudformation": cloudformation_examples,
    "terraform": terraform_examples,
    "nftables": nftables_examples,
    "firewalld": firewalld_examples,
}


def kernel_read_back(example: Example, files: Mapping[str, str], tmp: Path) -> Blueprint:
    """nftables' text has no reader in hasg: nft is. Load each host's file
    into a network namespace, parse what the kernel holds (`nft -j`) with the
    grammar the writer builds from, and take each of the host's rules that
    the kernel's table holds, as written, comment included; the table must
    hold nothing else."""
    from tests.hosts.lab import Lab, require_lab

    require_lab()
    assert example.inventory is not None
    enforce = example.options.get("egress") == "enforce"
    rulesets = host_rulesets(example.blueprint, example.inventory, egress=enforce, ssh_port=22)
    groups = []
    with Lab([r.host for r in rulesets]) as lab:
        for ruleset in rulesets:
            path = tmp / write.file_name(ruleset)
            path.write_text(files[path.name], encoding="utf-8")
            lab.load(ruleset.host, path)
            read = read_ruleset(lab.nft_json(ruleset.host))
            assert read.problems == ()
            (table,) = read.tables
            held = {rule for chain in table.chains.values() for rule in chain.rules}
            found = [r for r in ruleset.rules if write.host_rule(r) in held]
            written = write.host_table(ruleset, enforce_egress=enforce)
            assert sum(len(c.rules) for c in table.chains.values()) == sum(
                len(c.rules) for c in written.chains.values()
            )
            groups.append(host_group(ruleset.host, _cidr_rules(ruleset, found)))
    return Blueprint(example.blueprint.cluster, tuple(groups))


def _cidr_rules(ruleset: HostRuleset, rules: list[HostRule]) -> list[Rule]:
    """The rules as the kernel keeps them: the description is the rule's comment."""
    return [
        dataclasses.replace(cidr_rule(r, cidr), description=write.host_rule(r).comment)
        for r in rules
        for cidr in ruleset.peer_cidrs(r)
    ]


# Targets that write files nothing in hasg reads back: how the test reads them.
OTHER_READERS: dict[str, Callable[[Example, Mapping[str, str], Path], Blueprint]] = {
    "nftables": kernel_read_back,
}


# How a target keeps a description, where it cannot keep it whole: nft
# comments have no escape for `"` and stop at 128 bytes (nftables/write.py).
DESCRIPTION_FORMS: dict[str, Callable[[str], str]] = {"nftables": write.comment_text}


# Targets whose files keep no rule descriptions at all (firewalld's rich rules have none).
KEEPS_NO_DESCRIPTIONS = frozenset({"firewalld"})


def rule_keys(blueprint: Blueprint) -> set[tuple[str, object]]:
    return {(g.role, r.key) for g in blueprint for r in g.rules}


def described(
    blueprint: Blueprint, as_kept: Callable[[str], str] = str
) -> set[tuple[str, object, str]]:
    return {(g.role, r.key, as_kept(r.description)) for g in blueprint for r in g.rules}


def assert_reads_back(name: str, read: Blueprint, expected: Blueprint) -> None:
    """Every rule and nothing more; descriptions exactly where the target keeps
    them (nft cuts comments: compared as nft keeps them); equal by value where
    the target keeps everything."""
    assert [g.replace(rules=(), list_rules=()) for g in read] == [
        g.replace(rules=(), list_rules=()) for g in expected
    ], name
    assert rule_keys(read) == rule_keys(expected), name
    if name in KEEPS_NO_DESCRIPTIONS:
        assert {r.description for g in read for r in g.rules} <= {""}, name
        return
    assert described(read) == described(expected, DESCRIPTION_FORMS.get(name, str)), name
    if name not in DESCRIPTION_FORMS:
        assert read == expected, name


def read_back(backend: Backend, example: Example, files: Mapping[str, str], tmp: Path) -> Blueprint:
    if backend.parse is not None:
        return backend.read(files, example.options)
    return OTHER_READERS[backend.name](example, files, tmp)


TARGETS = target_names()


def test_every_target_has_an_example() -> None:
    """A target registered without an example (and a way to read it back) fails here."""
    assert sorted(EXAMPLES) == sorted(TARGETS)
    for name in TARGETS:
        assert load_backend(name).parse is not None or name in OTHER_READERS, name


def test_the_targets_are_the_backends_that_write_files() -> None:
    assert {"cloudformation", "firewalld", "nftables", "terraform"} <= set(TARGETS)
    assert "aws" not in TARGETS
    with pytest.raises(UsageError, match=r"aws is not a file target.*hasg plan"):
        load_backend("aws")
    with pytest.raises(UsageError, match=f"no target 'nope'; targets: {', '.join(TARGETS)}$"):
        load_backend("nope")


@pytest.mark.parametrize(
    "name", ["base", "__init__", "__pycache__", "terraform.hcl", "aws.read", "../terraform", ""]
)
def test_only_a_backend_module_is_a_target(name: str) -> None:
    """The seam, the package itself, a module inside a backend, a path: no target."""
    with pytest.raises(UsageError, match=r"^no target "):
        load_backend(name)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from([*TARGETS, "aws"]).flatmap(
            lambda t: st.sampled_from([t.upper(), f"{t}.", f".{t}", f"{t}/", f"_{t}", f"{t}\0"])
        ),
    )
)
def test_any_other_name_is_refused_in_one_line(name: str) -> None:
    """Whatever the name: a target of that very name, or a UsageError; never
    another module, never another exception."""
    if name in TARGETS:
        assert load_backend(name).name == name
        return
    with pytest.raises(UsageError):
        load_backend(name)


NEW_TARGET = """
from hasg.backends.base import ALL_PEER_KINDS, Backend, Capabilities

def _write(blueprint, options):
    return {"rules.txt": "".join(f"{g.role} {r}\\n" for g in blueprint for r in g.rules)}

def _arguments(parser):
    parser.add_argument("--shout", action="store_true", help="in capitals")

BACKEND = Backend(
    "plaintext", "rules as text", Capabilities(ALL_PEER_KINDS), _write, add_arguments=_arguments
)
"""


def test_a_new_target_is_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A module with BACKEND among the backends is a target: registered,
    listed, and written by `hasg emit NAME` with its own options, no other edit."""
    import hasg.backends
    from hasg.cli import main

    (tmp_path / "plaintext.py").write_text(NEW_TARGET, encoding="utf-8")
    monkeypatch.setattr(hasg.backends, "__path__", [*hasg.backends.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "hasg.backends.plaintext", raising=False)
    try:
        assert "plaintext" in target_names()
        assert main(["emit", "plaintext", "--shout", "--out", str(tmp_path / "out")]) == 0
        written = (tmp_path / "out" / "rules.txt").read_text(encoding="utf-8")
        assert written.count("\n") == chef().rule_count()
        with pytest.raises(SystemExit) as usage:  # argparse's way, as for every command
            main(["emit", "plaintext", "--out", str(tmp_path / "x"), "--loud"])
        assert usage.value.code == 1 and not (tmp_path / "x").exists()
        assert "unrecognized arguments: --loud" in capsys.readouterr().err
    finally:
        sys.modules.pop("hasg.backends.plaintext", None)
        vars(hasg.backends).pop("plaintext", None)


@pytest.mark.parametrize("name", TARGETS)
def test_output_is_deterministic_whatever_the_input_order(name: str, tmp_path: Path) -> None:
    backend = load_backend(name)
    for example in EXAMPLES[name](tmp_path):
        files = backend.emit(example.blueprint, example.options)
        shuffled = Blueprint(
            example.blueprint.cluster,
            tuple(
                group.replace(rules=tuple(reversed(group.rules)))
                for group in reversed(example.blueprint.groups)
            ),
            dict(reversed(list(example.blueprint.cidr_lists.items()))),
        )
        assert backend.emit(shuffled, example.options) == files
        assert list(files) == sorted(files)


def digest(name: str, tmp: str) -> str:
    """What the target's first example emits, as one hash (run in other processes)."""
    example = EXAMPLES[name](Path(tmp))[0]
    files = load_backend(name).emit(example.blueprint, example.options)
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", TARGETS)
def test_output_is_byte_stable_across_processes(name: str, tmp_path: Path) -> None:
    """Set and dict order must not leak into the bytes: other hash seeds, same files."""
    here = digest(name, str(tmp_path))
    code = (
        "from tests.test_backend_contract import digest\n"
        f"print(digest({name!r}, {str(tmp_path)!r}))"
    )
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == here


@pytest.mark.parametrize("name", TARGETS)
def test_every_rule_reads_back_and_descriptions_are_escaped(name: str, tmp_path: Path) -> None:
    """read(emit(b)) == b (the per-host form for a host target): every rule is
    there and nothing more, although descriptions try to break out of every
    quoting; a reader that keeps descriptions gives them back exactly."""
    backend = load_backend(name)
    for index, example in enumerate(EXAMPLES[name](tmp_path)):
        files = backend.emit(example.blueprint, example.options)
        scratch = tmp_path / str(index)
        scratch.mkdir()
        read = read_back(backend, example, files, scratch)
        assert_reads_back(name, read, example.read_back)


@settings(max_examples=30, deadline=None)
@given(description=st.text(max_size=120), kind=st.sampled_from(["group", "cidr_ipv4", "vpc"]))
def test_any_description_reads_back_to_the_same_rules(description: str, kind: PeerKind) -> None:
    """Hypothesis, for every target with a reader of its own (nft's is the kernel,
    exercised above and in tests/hosts)."""
    peer = Peer(kind, "peer" if kind == "group" else "198.51.100.0/24" if kind != "vpc" else "")
    rule = Rule("ingress", "tcp", 22, 22, peer, description)
    blueprint = Blueprint(
        "c",
        (
            SecurityGroup("app", "c-app", "", ownership_tags("c", "app"), (rule,)),
            SecurityGroup("peer", "c-peer", "", ownership_tags("c", "peer")),
        ),
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        inventory = two_roles_file(Path(tmp))
        for name in TARGETS:
            backend = load_backend(name)
            if backend.parse is None:
                continue
            hosts = "inventory" in backend.option_defaults()
            options = {"inventory": inventory} if hosts else {}
            expected = (
                as_blueprint("c", host_rulesets(blueprint, TWO_ROLES)) if hosts else blueprint
            )
            read = backend.read(backend.emit(blueprint, options), options)
            assert_reads_back(name, read, expected)


# --------------------------------------------------------------------------- refusals

UNSUPPORTED = [
    (name, kind)
    for name in TARGETS
    for kind in sorted(ALL_PEER_KINDS - load_backend(name).peer_kinds)
]


def test_the_peer_kinds_are_all_the_blueprint_has() -> None:
    assert frozenset(get_args(PeerKind)) == ALL_PEER_KINDS
    assert load_backend("terraform").peer_kinds == ALL_PEER_KINDS
    assert ("nftables", "prefix_list") in UNSUPPORTED and (
        "firewalld",
        "prefix_list",
    ) in UNSUPPORTED


def unsupported_peer(kind: PeerKind) -> Peer:
    return Peer(
        kind, {"prefix_list": "pl-0123456789abcdef0", "cidr_list": "user_cidrs"}.get(kind, "")
    )


@pytest.mark.parametrize(("name", "kind"), UNSUPPORTED)
def test_a_peer_the_target_cannot_express_is_refused_naming_the_rule(
    name: str, kind: PeerKind, tmp_path: Path
) -> None:
    backend = load_backend(name)
    example = EXAMPLES[name](tmp_path)[0]
    first, *others = example.blueprint.groups
    rule = Rule("ingress", "tcp", 5432, 5432, unsupported_peer(kind), "from outside")
    blueprint = Blueprint(
        example.blueprint.cluster,
        (first.replace(rules=(*first.rules, rule)), *others),
        example.blueprint.cidr_lists,
    )
    with pytest.raises(UsageError) as refused:
        backend.emit(blueprint, example.options)
    assert f"{first.role}'s rule `{rule}`" in str(refused.value)
    assert f"peer kind {kind}" in str(refused.value)


PROTOCOLS = st.one_of(
    st.integers(-1, 255).map(canonical_protocol),
    st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "-1", "esp", "GRE", "all", "6"]).map(
        canonical_protocol
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    target=st.sampled_from([n for n in TARGETS if load_backend(n).peer_kinds != ALL_PEER_KINDS]),
    data=st.data(),
    protocol=PROTOCOLS,
    direction=st.sampled_from(["ingress", "egress"]),
    in_list_rules=st.booleans(),
)
def test_the_peer_kind_guard_refuses_every_protocol_and_place(
    target: str, data: st.DataObject, protocol: str, direction: str, in_list_rules: bool
) -> None:
    """Whatever the protocol (any number, any spelling), direction, or whether
    it sits among the rules or the CIDR-list rules, an unsupported peer is
    refused before anything is resolved or written."""
    backend = load_backend(target)
    kind = data.draw(st.sampled_from(sorted(ALL_PEER_KINDS - backend.peer_kinds)))
    ports = (443, 443) if has_ports(protocol) and protocol in ("tcp", "udp") else (-1, -1)
    rule = Rule(direction, protocol, *ports, unsupported_peer(kind))  # type: ignore[arg-type]
    placed = {"list_rules": (rule,)} if in_list_rules else {"rules": (rule,)}
    group = SecurityGroup("app", "c-app", "", {}, **placed)  # type: ignore[arg-type]
    # No inventory at all: the refusal comes first, from the guard itself.
    with pytest.raises(UsageError, match="cannot express app's rule"):
        backend.emit(Blueprint("c", (group,)), {})


@pytest.mark.parametrize(
    "name",
    ["../x", "/etc/passwd", "a/../../b", "a//b", "./a", "", "a/", "a\\b", "a\0b", "..", "."],
)
def test_a_file_name_outside_the_directory_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="outside its directory"):
        check_file_name("t", name)


@given(
    parts=st.lists(
        st.text(st.characters(blacklist_characters="/\\\0"), min_size=1, max_size=8),
        min_size=1,
        max_size=4,
    )
)
def test_the_file_name_guard_takes_exactly_the_relative_names(parts: list[str]) -> None:
    name = "/".join(parts)
    if any(p in (".", "..") for p in parts):
        with pytest.raises(UsageError):
            check_file_name("t", name)
    else:
        check_file_name("t", name)


def test_a_backend_that_names_a_file_outside_is_refused() -> None:
    escaping = Backend(
        "evil", "", Capabilities(ALL_PEER_KINDS), write=lambda b, o: {"../../etc/cron.d/x": ""}
    )
    with pytest.raises(UsageError, match="outside its directory"):
        escaping.emit(chef())


# --------------------------------------------------------------------------- options, library, CLI


def test_an_option_the_target_does_not_take_is_refused() -> None:
    with pytest.raises(UsageError, match="terraform target takes no option inventory"):
        hasg.emit(chef(), "terraform", inventory="config.toml")
    with pytest.raises(UsageError, match="nftables target takes no option network "):
        hasg.emit(chef(), "nftables", inventory=LAB, network=["198.18.0.0/24"])
    with pytest.raises(UsageError, match="egress must be one of open, enforce"):
        hasg.emit(chef(), "nftables", inventory=LAB, egress="closed")
    with pytest.raises(UsageError, match="needs an inventory"):
        hasg.emit(chef(), "firewalld")


def test_the_library_is_the_cli(tmp_path: Path) -> None:
    from hasg.cli import main

    assert main(["emit", "nftables", "--inventory", str(LAB), "--out", str(tmp_path)]) == 0
    written = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    assert written == hasg.emit(chef(), "nftables", inventory=LAB, ssh_port=22)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hasg.cli", *args], capture_output=True, text=True, check=False
    )


def test_emit_terraform_equals_emit_hcl(tmp_path: Path) -> None:
    """The issue's "done when": byte for byte, on stdout and as a module."""
    emitted, alias = run("emit", "terraform"), run("emit-hcl")
    assert emitted.returncode == alias.returncode == 0
    assert emitted.stdout == alias.stdout == hasg.to_hcl(chef())
    run("emit", "terraform", "--out", str(tmp_path / "a"))
    run("emit-hcl", "--out", str(tmp_path / "b"))
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b and sorted(a) == ["main.tf", "outputs.tf", "variables.tf", "versions.tf"]


def test_emit_help_lists_every_target_without_boto3() -> None:
    code = (
        "import sys\nfrom hasg.cli import main\ntry:\n    main(['emit', '--help'])\n"
        "except SystemExit:\n    pass\nprint('boto3' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "False"
    for name in TARGETS:
        assert f"  {name} " in done.stdout


@pytest.mark.parametrize("name", TARGETS)
def test_the_cli_docs_name_every_target_and_its_options(name: str) -> None:
    from hasg.cli import target_parser

    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"hasg emit {name}" in doc
    for action in target_parser(load_backend(name))._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in doc, f"{name} {option}"


def test_a_target_without_out_that_writes_a_directory_is_refused(tmp_path: Path) -> None:
    done = run("emit", "nftables", "--inventory", str(LAB))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "hasg: error: the nftables target writes several files: give --out DIR\n"


def test_an_unknown_target_is_one_line() -> None:
    done = run("emit", "pulumi")
    assert done.returncode == 1
    assert done.stderr == f"hasg: error: no target 'pulumi'; targets: {', '.join(TARGETS)}\n"
    done = run("emit")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "the following arguments are required: TARGET" in done.stderr


def needs(capability: str) -> tuple[Blueprint, dict[str, Any]]:
    """A Blueprint (and options) that only a target able to do `capability` expresses."""
    rule = {
        "icmp_codes": Rule("ingress", "icmp", 3, 4, Peer("cidr_ipv4", "198.18.1.0/24")),
        "icmp_types": Rule("ingress", "icmp", 6, -1, Peer("cidr_ipv4", "198.18.1.0/24")),
    }.get(capability)
    app = SecurityGroup("app", "c-app", "", ownership_tags("c", "app"), (rule,) if rule else ())
    peer = SecurityGroup("peer", "c-peer", "", ownership_tags("c", "peer"))
    default = () if capability == "default_group" else None
    if capability == "default_group_rules":
        default = (Rule("ingress", "tcp", 22, 22, Peer("cidr_ipv4", "198.18.1.0/24")),)
    blueprint = Blueprint("c", (app, peer), default_group=default)
    options: dict[str, Any] = {"inventory": TWO_ROLES}  # for host targets: the site
    if capability == "enforce_egress":
        options["egress"] = "enforce"
    return blueprint, options


def able(backend: Backend, capability: str) -> bool:
    declared = backend.capabilities
    if capability == "default_group":
        return declared.default_group != "none"
    if capability == "default_group_rules":
        return declared.default_group == "any"
    if capability == "icmp_types":
        return declared.icmp_types is None or 6 in declared.icmp_types.get("icmp", {6})
    return bool(getattr(declared, capability))


CAPABILITIES = (
    "default_group",
    "default_group_rules",
    "enforce_egress",
    "icmp_codes",
    "icmp_types",
)


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("capability", CAPABILITIES)
def test_what_a_target_cannot_express_is_refused_in_one_form(name: str, capability: str) -> None:
    """One mechanism, the declared Capabilities: before anything is written,
    `NAME cannot express WHAT (WHY...)`; what it declares it can, it writes."""
    backend = load_backend(name)
    blueprint, options = needs(capability)
    if "inventory" not in backend.option_defaults():  # not a host target
        options = {}
        if capability == "enforce_egress":
            return  # only host targets take --egress
    if able(backend, capability):
        backend.emit(blueprint, options)
        return
    with pytest.raises(UsageError) as refused:
        backend.emit(blueprint, options)
    assert str(refused.value).startswith(f"{name} cannot express ")
