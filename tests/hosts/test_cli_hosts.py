"""`hasg emit nftables|firewalld` and `hasg audit --nft`, from the command line.

The files are what the library writes; bad inventories are one line per
problem with file:line:column and nothing written; the audit reads what a
real kernel answers (`nft -j list ruleset` in a network namespace) and
exits 0 clean, 2 on drift (whatever rule is removed or changed), 1 when the
file is not `nft -j` output at all.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hasg
from hasg import chef_automate_ha, compile_policy
from hasg.backends import firewalld, nftables
from hasg.backends.nftables import write
from hasg.checks.audit import HOST_CLAIM
from hasg.cli import main
from hasg.core.blueprint import Peer
from hasg.hosts.inventory import load_inventory
from hasg.hosts.resolve import HostRuleset, host_rulesets
from hasg.workflows import audit_host
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

CONFIG = FIXTURES / "config.toml"
SITE = ["--bastion", "198.18.0.5", "--network", "198.18.0.0/24"]
HOST = "198.18.0.10"
ON_PREM = Path(__file__).resolve().parents[2] / "docs" / "on-prem.md"


def chef_rulesets(*, egress: bool = False) -> tuple[HostRuleset, ...]:
    inventory = load_inventory(CONFIG).with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    return host_rulesets(
        hasg.compile_policy(hasg.chef_automate_ha()), inventory, egress=egress, ssh_port=22
    )


def tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text(encoding="utf-8")
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- emit


@pytest.mark.parametrize("egress", ["open", "enforce"])
def test_emit_nftables_writes_one_file_per_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], egress: str
) -> None:
    out = tmp_path / "nft"
    args = ["emit", "nftables", "--inventory", str(CONFIG), *SITE, "--egress", egress]
    assert main([*args, "--out", str(out)]) == 0
    enforced = egress == "enforce"
    expected = nftables.emit(chef_rulesets(egress=enforced), enforce_egress=enforced)
    assert tree(out) == expected
    assert f"{HOST}.nft" in expected and len(expected) == 11
    assert ("chain output" in expected[f"{HOST}.nft"]) is enforced
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.startswith(f"wrote {HOST}.nft, ")


@pytest.mark.parametrize(
    ("target", "stale"), [("nftables", "198.18.0.99.nft"), ("firewalld", "198.18.0.99/")]
)
def test_emit_names_the_files_of_a_host_no_longer_in_the_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, stale: str
) -> None:
    """A host dropped from the inventory keeps its old rules in --out, where a
    deployment would still pick them up: the run names them (it deletes nothing)."""
    out = tmp_path / target
    out.mkdir()
    (out / stale.rstrip("/")).mkdir() if stale.endswith("/") else (out / stale).write_text("")
    assert main(["emit", target, "--inventory", str(CONFIG), *SITE, "--out", str(out)]) == 0
    assert (
        f"note: {out} also holds {stale}, which this run did not write: remove what is stale"
    ) in capsys.readouterr().err.splitlines()
    assert (out / stale.rstrip("/")).exists()


def test_emit_firewalld_writes_a_zone_and_ipsets_per_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "firewalld"
    assert main(["emit", "firewalld", "--inventory", str(CONFIG), *SITE, "--out", str(out)]) == 0
    assert tree(out) == firewalld.emit(chef_rulesets())
    assert (out / HOST / "zones" / "hasg.xml").is_file()
    assert capsys.readouterr().err.startswith(f"wrote {HOST}/, ")


def refused(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> str:
    """Run a command that must fail: exit 1, no traceback, nothing written."""
    assert main([*args, "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and "Traceback" not in printed.err
    assert not out.exists()
    return printed.err


def test_a_bad_inventory_is_one_line_with_its_place_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "roles:\n  automate: [198.18.0.10, 198.18.0.1/24]\n  bastion: [198.18.0.5]\n",
        encoding="utf-8",
    )
    for target in ("nftables", "firewalld"):
        error = refused(capsys, tmp_path / target, "emit", target, "--inventory", str(inventory))
        assert error.count("\n") == 1
        assert re.match(rf"hasg: error: {re.escape(str(inventory))}:2:\d+: ", error), error


def test_a_role_without_hosts_is_refused_naming_the_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = refused(capsys, tmp_path / "out", "emit", "nftables", "--inventory", str(CONFIG))
    assert "role bastion has no hosts" in error and "give --bastion" in error
    assert all(
        line.startswith(("hasg: error: ", str(CONFIG), "... and ")) for line in error.splitlines()
    )


def test_a_missing_bastion_is_one_line_however_many_rules_need_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """18 rules of 4 roles need the bastion's hosts: one line says so, and
    names one of them; the networks the `vpc` peer needs, another."""
    args = ["emit", "nftables", "--inventory", str(CONFIG)]
    alone = refused(capsys, tmp_path / "out", *args, "--network", "198.18.0.0/24")
    needers = [
        r
        for g in compile_policy(chef_automate_ha())
        for r in g.rules_for("ingress")
        if r.peer == Peer("group", "bastion")
    ]
    assert alone == (
        f"hasg: error: {CONFIG}: bastion: role bastion has no hosts, but {len(needers)} rules "
        "of automate, chef_server, opensearch, postgresql (the first: automate's "
        "`ingress tcp/22 from group bastion`) need them; list its hosts or give --bastion\n"
    )
    both = refused(capsys, tmp_path / "out", *args).splitlines()
    assert len(both) == 2 and both[1].startswith(f"{CONFIG}: networks: 4 rules of automate, ")
    assert both[1].endswith(
        "name the vpc peer; give --network CIDR (or `networks:` in the "
        "inventory) for the networks it stands for"
    )


def test_an_ssh_port_other_than_the_policys_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8").replace('ssh_port = "22"', 'ssh_port = "2222"'),
        encoding="utf-8",
    )
    policy = tmp_path / "policy.yaml"
    assert main(["init", "--out", str(policy)]) == 0
    capsys.readouterr()
    args = ["emit", "nftables", "--inventory", str(config), *SITE, "--policy", str(policy)]
    error = refused(capsys, tmp_path / "out", *args)
    assert error == (
        f"hasg: error: {config}:17:1: ssh_port: the hosts listen for SSH on 2222, but the "
        "policy opens 22: set `ssh_port: 2222` in the policy file (`hasg init --ssh-port "
        "2222` writes one)\n"
    )


def test_without_a_policy_the_built_in_one_takes_the_inventorys_ssh_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config.toml's `ssh_port = "2222"`: the built-in policy opens 2222 where
    it would open 22, and the files are those of `hasg init --ssh-port 2222`."""
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8").replace('ssh_port = "22"', 'ssh_port = "2222"'),
        encoding="utf-8",
    )
    policy = tmp_path / "policy.yaml"
    assert main(["init", "--ssh-port", "2222", "--out", str(policy)]) == 0
    for target in ("nftables", "firewalld"):
        built_in, explicit = tmp_path / f"{target}-built-in", tmp_path / f"{target}-explicit"
        args = ["emit", target, "--inventory", str(config), *SITE]
        assert main([*args, "--out", str(built_in)]) == 0
        assert main([*args, "--policy", str(policy), "--out", str(explicit)]) == 0
        written = {
            p.relative_to(built_in): p.read_bytes() for p in built_in.rglob("*") if p.is_file()
        }
        assert written == {
            p.relative_to(explicit): p.read_bytes() for p in explicit.rglob("*") if p.is_file()
        }
        assert any(b"2222" in text for text in written.values())
    capsys.readouterr()


def test_firewalld_refuses_enforced_egress_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["emit", "firewalld", "--inventory", str(CONFIG), *SITE, "--egress", "enforce"]
    assert "cannot express --egress enforce" in refused(capsys, tmp_path / "out", *args)


def test_a_prefix_list_is_refused_naming_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = hasg.chef_automate_ha()
    data = policy.model_dump(mode="json", exclude_none=True)
    data["flows"].append(
        {
            "source": {"prefix_list_id": "pl-0123456789abcdef0", "max_entries": 5},
            "destination": "automate",
            "ports": ["tcp/8443"],
            "description": "partners",
        }
    )
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    args = ["emit", "nftables", "--policy", str(path), "--inventory", str(CONFIG), *SITE]
    error = refused(capsys, tmp_path / "out", *args)
    assert error == (
        "hasg: error: nftables cannot express automate's rule "
        "`ingress tcp/8443 from pl-0123456789abcdef0` (peer kind prefix_list; it takes "
        "cidr_ipv4, cidr_ipv6, cidr_list, group, vpc)\n"
    )


# --------------------------------------------------------------------------- audit --nft


@pytest.fixture(scope="module")
def kernel_json() -> Iterator[str]:
    """What `nft -j list ruleset` answers on 198.18.0.10 once its file is loaded."""
    require_lab()
    (ruleset,) = [r for r in chef_rulesets() if r.host.name == HOST]
    with Lab([ruleset.host]) as lab, _scratch() as directory:
        path = directory / f"{HOST}.nft"
        path.write_text(write.ruleset_text(ruleset), encoding="utf-8")
        lab.load(ruleset.host, path)
        yield lab.nft_json(ruleset.host)


class _scratch:
    def __enter__(self) -> Path:
        import tempfile

        self.directory = tempfile.mkdtemp(prefix="hasg-cli-hosts-")
        return Path(self.directory)

    def __exit__(self, *_: object) -> None:
        shutil.rmtree(self.directory)


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def nft_args(path: Path, host: str = HOST) -> list[str]:
    return ["--nft", str(path), "--inventory", str(CONFIG), "--host", host, *SITE]


def test_audit_of_the_generated_ruleset_is_clean(
    kernel_json: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "host.json"
    path.write_text(kernel_json, encoding="utf-8")
    code, out, err = audit(capsys, *nft_args(path))
    assert (code, err) == (0, "")
    assert out.startswith(f"Audit of cluster chef-automate-ha in {path}: host {HOST} (automate), ")
    assert out.endswith(f"clean: {HOST_CLAIM}\n")


def test_audit_against_another_host_of_the_inventory_is_drift(
    kernel_json: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checker can fail: 198.18.0.40 (postgresql) is given other ports."""
    path = tmp_path / "host.json"
    path.write_text(kernel_json, encoding="utf-8")
    code, out, _ = audit(capsys, *nft_args(path, host="198.18.0.40"))
    assert code == 2
    assert re.search(r"missing flow .*tcp/5432.* from automate 198\.18\.0\.10,.* blocked", out), out
    assert re.search(r"beyond the policy .*tcp/443.* open, which the policy does not allow", out)


def test_the_host_audit_keeps_the_report_contract_in_json(
    kernel_json: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json` with `--nft`, as with every other audit: the verdict, the findings."""
    path = tmp_path / "host.json"
    path.write_text(kernel_json, encoding="utf-8")
    code, out, _ = audit(capsys, *nft_args(path), "--json")
    document = json.loads(out)
    assert code == 0 and document["ok"] is True and document["findings"] == []
    assert document["scope"].startswith(f"host {HOST} (automate), ")
    assert document["rules_checked"] > 500
    code, out, _ = audit(capsys, *nft_args(path, host="198.18.0.40"), "--json")
    document = json.loads(out)
    kinds = {f["kind"] for f in document["findings"]}
    assert code == 2 and document["ok"] is False
    assert kinds == {"missing_flow", "beyond_policy"}
    assert {f["role"] for f in document["findings"]} == {"postgresql"}


LAB = FIXTURES / "lab.yaml"


@pytest.fixture(scope="module")
def dual_stack_json() -> Iterator[str]:
    """`nft -j list ruleset` of the lab's dual-stack automate host (198.18.0.10)."""
    require_lab()
    inventory = load_inventory(LAB)
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    (ruleset,) = [r for r in host_rulesets(blueprint, inventory) if r.host.name == HOST]
    with Lab([ruleset.host]) as lab, _scratch() as directory:
        path = directory / f"{HOST}.nft"
        path.write_text(write.ruleset_text(ruleset), encoding="utf-8")
        lab.load(ruleset.host, path)
        yield lab.nft_json(ruleset.host)


def rule_items(document: dict[str, list[dict[str, object]]]) -> list[int]:
    return [i for i, item in enumerate(document["nftables"]) if "rule" in item]


def with_dport(document: dict[str, list[dict[str, object]]]) -> list[int]:
    return [i for i in rule_items(document) if "dport" in json.dumps(document["nftables"][i])]


def needed(document: dict[str, list[dict[str, object]]]) -> list[int]:
    """The rules whose removal changes some connection: all but the ones the
    policy grants twice (chef_server lies inside the `vpc` network, which the
    built-in policy gives 443 and 80 too), and `ct state invalid drop`, which
    only drops packets of no connection (the chain's policy drops them too,
    unless a later rule accepts them: that is no connection either)."""
    return [
        i
        for i in rule_items(document)
        if (
            not re.search(r'"right": (443|80)\}', json.dumps(document["nftables"][i]))
            or "@vpc_" in json.dumps(document["nftables"][i])
        )
        and '"invalid"' not in json.dumps(document["nftables"][i])
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), change=st.sampled_from(["remove", "port", "verdict", "jump", "policy"]))
def test_any_edit_of_the_kernel_ruleset_is_drift(
    dual_stack_json: str, tmp_path: Path, data: st.DataObject, change: str
) -> None:
    """Remove any rule a connection needs (`needed`), move any port, turn any
    verdict into a drop or a jump, or open the chain's policy: every such
    edit changes what some connection meets, and the audit never says clean.
    (A dual-stack host: on an IPv4-only one the ICMPv6 rule meets no
    connection. tests/hosts/test_evaluator.py holds the evaluator to real
    packets for edits of every kind, these included.)"""
    document = json.loads(dual_stack_json)
    items = document["nftables"]
    candidates = {"port": with_dport, "remove": needed, "verdict": needed, "jump": needed}.get(
        change, rule_items
    )(document)
    index = data.draw(st.sampled_from(candidates))
    expressions = items[index]["rule"]["expr"]
    if change == "remove":
        del items[index]
    elif change == "port":
        (port,) = [e for e in expressions if "dport" in json.dumps(e)]
        port["match"]["right"] = 65000
    elif change in ("verdict", "jump"):
        expressions[-1] = {"drop": None} if change == "verdict" else {"jump": {"target": "x"}}
    else:
        chain = next(i["chain"] for i in items if "chain" in i)
        chain["policy"] = "accept"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    report = audit_host(hasg.chef_automate_ha(), path, inventory=LAB, host=HOST)
    assert not report.ok and report.exit_code == 2, report.to_text()


def test_audit_of_an_edited_ruleset_exits_2(
    kernel_json: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(kernel_json)
    del document["nftables"][rule_items(document)[-1]]
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out, err = audit(capsys, *nft_args(path))
    assert (code, err) == (2, "")
    assert "missing flow" in out and out.endswith("drift: 1 finding(s)\n")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"nftables": [\n  {"table": }\n]}', ":2:13: not JSON: Expecting value"),
        ("", ":1:1: not JSON: Expecting value"),
        ('{"rules": []}', ":1:1: not the JSON of `nft -j list ruleset`"),
        ("[1, 2]", ":1:1: not the JSON of `nft -j list ruleset`"),
    ],
)
def test_a_file_that_is_not_nft_json_is_an_error_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str
) -> None:
    path = tmp_path / "host.json"
    path.write_text(text, encoding="utf-8")
    code, out, err = audit(capsys, *nft_args(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"hasg: error: {path}{where}") and err.count("\n") == 1


def test_a_ruleset_without_any_table_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty ruleset drops nothing: every port the policy keeps closed is open."""
    path = tmp_path / "host.json"
    path.write_text('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}', encoding="utf-8")
    code, out, _ = audit(capsys, *nft_args(path))
    assert code == 2 and "open, which the policy does not allow: no base chain drops it" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--nft", "x.json"],
            "hasg audit --from nftables PATH: the following arguments are required: "
            "--host, --inventory (see `hasg audit --help`)",
        ),
        (["--nft", "x.json", "--inventory", str(CONFIG)], "are required: --host"),
        (["--from", "firewalld", "x", "--host", HOST], "are required: --inventory"),
        (["--hcl", "x.tf", "--inventory", str(CONFIG)], "unrecognized arguments: --inventory"),
        (["--from", "terraform", "x.tf", "--host", HOST], "unrecognized arguments: --host"),
        (["--vpc", "vpc-1", "--egress", "enforce"], "--egress enforce: not an option of audit"),
        (["--from", "graph", "x"], "no target 'graph'"),
        (
            ["--nft", "x.json", "--inventory", str(CONFIG), "--host", HOST, "--region", "x"],
            "--region read AWS: not with --from nftables",
        ),
    ],
)
def test_audit_nft_options_that_do_not_fit_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = audit(capsys, *args)
    assert (code, out) == (1, "")
    assert message in err and err.count("\n") == 1


def test_audit_of_an_address_no_host_has_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "host.json"
    path.write_text('{"nftables": []}', encoding="utf-8")
    code, _, err = audit(capsys, *nft_args(path, host="198.18.0.99"))
    assert code == 1 and "no host has the address 198.18.0.99" in err


# --------------------------------------------------------------------------- on-prem.md


def doc_commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", ON_PREM.read_text(encoding="utf-8"), flags=re.S)
    return [
        shlex.split(line)[1:]
        for block in blocks
        for line in block.splitlines()
        if line.startswith("hasg ")
    ]


def test_the_on_prem_walkthrough_runs_as_shown(
    kernel_json: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(CONFIG, tmp_path / "config.toml")
    (tmp_path / f"{HOST}.json").write_text(kernel_json, encoding="utf-8")
    commands = doc_commands()
    assert {c[0] for c in commands} == {"emit", "audit"} and len(commands) >= 3
    for command in commands:
        assert main(command) == 0, command
    assert (tmp_path / "nftables" / f"{HOST}.nft").is_file()
    assert (tmp_path / "firewalld" / HOST / "zones" / "hasg.xml").is_file()
    assert f"clean: {HOST_CLAIM}" in capsys.readouterr().out
