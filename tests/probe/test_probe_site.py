"""`hasg probe` against real hosts, simulated: every host of the lab in its own
network namespace with hasg's nftables file loaded, every node with a real
OpenSSH server, and `hasg probe` run inside the bastion's namespace.

What the probes should find is worked out here from the Blueprint's own rules
(tests/hosts/test_packets.py `expected_open`), not from the probe plan under
test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hasg.core.blueprint import Blueprint
from hasg.hosts.inventory import Host, Inventory
from tests.hosts.test_packets import expected_open
from tests.probe.conftest import python36
from tests.probe.site import SshSite

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=24)

FAMILIES = {4: "ipv4", 6: "ipv6"}


def host(site: SshSite, role: str) -> Host:
    return site.inventory.hosts_of(role)[0]


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def wrong_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("wrong: ")]


@pytest.fixture
def clean(site: SshSite, chef_blueprint: Blueprint) -> Iterator[SshSite]:
    """The site with hasg's own firewall on every host; after the test,
    nothing the probe started or made is left on any host."""
    site.load_firewalls(chef_blueprint)
    before = {h: site.private_files(h) for h in site.nodes}
    yield site
    assert_nothing_left(site, before)


def assert_nothing_left(site: SshSite, before: dict[Host, list[str]]) -> None:
    for node in site.nodes:
        sshd = {site.servers[node].pid}
        assert eventually(lambda n=node, s=sshd: site.processes(n) == s), site.processes(node)
        assert site.listeners(node) == {(str(a), "tcp", 22) for a in node.addresses}
        assert site.private_files(node) == before[node]
    assert eventually(lambda: not site.processes(site.bastion))
    assert not site.listeners(site.bastion)


def test_all_correct_exits_0_and_every_probe_is_as_the_rules_say(
    clean: SshSite, chef_blueprint: Blueprint, lab_inventory: Inventory
) -> None:
    done = clean.probe("--json")

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    probes = report["probes"]
    # Every ordered pair of the five hosts, both families, 12 named services and 5 others.
    assert len(probes) == 5 * 4 * 2 * 17
    by_address = {str(a): h for h in lab_inventory.hosts for a in h.addresses}
    for probe in probes:
        protocol, port = probe["service"].split("/")
        source, destination = by_address[probe["source"]], by_address[probe["destination"]]
        family = FAMILIES[4 if "." in probe["source"] else 6]
        wanted = expected_open(
            chef_blueprint, lab_inventory, source, destination, family, protocol, int(port),
            enforce_egress=False,
        )  # fmt: skip
        assert probe["expected"] == ("open" if wanted else "closed"), probe
        assert probe["verdict"] == probe["expected"], probe
    summary = report["summary"]
    assert summary["open_as_expected"] == sum(p["expected"] == "open" for p in probes) > 90
    assert summary["wrong"] == summary["unproven"] == summary["not_probed"] == 0
    # sshd holds tcp/22 on every node: probed as it is, open from the bastion only.
    for entry in report["hosts"]:
        assert ("tcp/22" in entry["held_by_a_program"]) == (entry["role"] != "bastion")


def test_the_text_ends_with_the_summary_line(clean: SshSite) -> None:
    done = clean.probe()

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("probe: 680 probes, ")
    assert lines[-1].endswith(" closed as expected, 0 wrong")
    assert "automate     postgresql   tcp/7432   open      2/2 open" in lines
    assert "services it never names: tcp/3306 tcp/8080 tcp/9639 udp/53 udp/9631" in lines


def test_a_required_rule_deleted_on_one_host_is_exactly_that_flow(clean: SshSite) -> None:
    postgresql, automate = host(clean, "postgresql"), host(clean, "automate")
    clean.delete_rule(postgresql, "ip saddr @role_automate_ipv4 tcp dport 7432 accept")

    done = clean.probe()

    assert done.returncode == 2, done.stdout + done.stderr
    assert wrong_lines(done.stdout) == [
        f"wrong: automate {automate.addresses[0]} -> postgresql {postgresql.addresses[0]} "
        "tcp/7432: expected open, timeout"
    ]
    assert done.stdout.splitlines()[-1].endswith(", 1 wrong")


def test_an_extra_accept_on_one_host_is_exactly_that_flow(clean: SshSite) -> None:
    automate, opensearch = host(clean, "automate"), host(clean, "opensearch")
    clean.accept(automate, f"ip saddr {opensearch.addresses[0]} tcp dport 3306")

    done = clean.probe("--json")

    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads(done.stdout)
    wrong = [p for p in report["probes"] if p["verdict"] == "wrong"]
    assert [(p["source"], p["destination"], p["service"], p["outcome"]) for p in wrong] == [
        (str(opensearch.addresses[0]), str(automate.addresses[0]), "tcp/3306", "open")
    ]
    assert [f["kind"] for f in report["findings"]] == ["probe_open"]


def test_a_port_held_by_a_real_service_is_probed_as_it_is(clean: SshSite) -> None:
    opensearch = host(clean, "opensearch")
    holder = clean.hold(opensearch, "tcp", 9200, answer=True)
    try:
        done = clean.probe("--json")
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait()

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    (entry,) = [h for h in report["hosts"] if h["host"] == opensearch.name]
    assert entry["held_by_a_program"] == ["tcp/22", "tcp/9200"]
    to_9200 = [
        p
        for p in report["probes"]
        if p["service"] == "tcp/9200" and p["destination_role"] == "opensearch"
    ]
    assert {p["listener"] for p in to_9200} == {"service"}
    assert {(p["source_role"], p["verdict"]) for p in to_9200} == {
        ("automate", "open"), ("chef_server", "open"), ("bastion", "open"),
        ("postgresql", "closed"),
    }  # fmt: skip


def test_a_silent_udp_service_is_unproven_not_passed(clean: SshSite) -> None:
    postgresql = host(clean, "postgresql")
    holder = clean.hold(postgresql, "udp", 9638, answer=False)
    try:
        done = clean.probe()
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait()

    assert done.returncode == 1, done.stdout + done.stderr
    unproven = [line for line in done.stdout.splitlines() if line.startswith("unproven: ")]
    assert len(unproven) == 2  # IPv4 and IPv6, from all four other hosts each
    assert all(line.startswith("unproven: udp/9638 on postgresql ") for line in unproven)
    assert "did not answer the datagram" in unproven[0]
    assert done.stdout.splitlines()[-1].endswith(", 0 wrong, 8 unproven"), done.stdout[-3000:]


def test_a_host_whose_sshd_is_down_exits_1_naming_it(clean: SshSite) -> None:
    chef_server = host(clean, "chef_server")
    clean.stop(chef_server)
    try:
        done = clean.probe()
    finally:
        clean.start(chef_server)

    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"could not probe {chef_server.name} (chef_server): SSH failed: ssh: connect to host "
        f"{chef_server.name} port 22: Connection refused"
    ) in done.stdout.splitlines()
    assert "not probed" in done.stdout.splitlines()[-1]


def test_an_unknown_host_key_is_refused_naming_the_host(clean: SshSite) -> None:
    opensearch = host(clean, "opensearch")
    clean.write_known_hosts([h for h in clean.nodes if h != opensearch])
    try:
        done = clean.probe()
    finally:
        clean.write_known_hosts(clean.nodes)

    assert done.returncode == 1
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("could not probe")]
    assert line.startswith(f"could not probe {opensearch.name} (opensearch): SSH refused: ")
    assert "host key is not in known_hosts" in line


def test_a_host_without_python_says_so(clean: SshSite) -> None:
    automate = host(clean, "automate")
    clean.stop(automate)
    clean.start(automate, path="/nonexistent")
    try:
        done = clean.probe()
    finally:
        clean.stop(automate)
        clean.start(automate)

    assert done.returncode == 1
    assert (
        f"could not probe {automate.name} (automate): no Python 3 on this host "
        "(looked for python3, /usr/libexec/platform-python)"
    ) in done.stdout.splitlines()


def test_the_agent_runs_on_python_3_6(clean: SshSite) -> None:
    """RHEL 8's platform-python is 3.6: the agent runs on it, and says so."""
    python = Path(python36()).resolve()
    postgresql = host(clean, "postgresql")
    clean.stop(postgresql)
    # Its python3 is 3.6: the one in a directory of its own, first on its PATH.
    clean.start(postgresql, path=f"{python.parent}:/usr/bin:/bin", keep=[python.parents[1]])
    try:
        done = clean.probe("--json")
    finally:
        clean.stop(postgresql)
        clean.start(postgresql)

    assert done.returncode == 0, done.stdout + done.stderr
    pythons = {h["role"]: h["python"] for h in json.loads(done.stdout)["hosts"]}
    assert pythons["postgresql"].startswith("3.6.")
    assert not pythons["automate"].startswith("3.6.")


def test_with_egress_enforced_on_both_sides_all_is_as_expected(
    site: SshSite, chef_blueprint: Blueprint
) -> None:
    site.load_firewalls(chef_blueprint, enforce_egress=True)
    try:
        done = site.probe("--egress", "enforce", "--json")
    finally:
        site.load_firewalls(chef_blueprint)

    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = {p["outcome"] for p in json.loads(done.stdout)["probes"]}
    assert "blocked at source" in outcomes  # the sources' own output chains dropped some


def test_ctrl_c_leaves_nothing_behind(clean: SshSite) -> None:
    # As from a terminal, whatever ran the tests: started in the background by
    # a script (`&`, nohup), pytest and what it starts inherit an ignored SIGINT.
    command = ["env", "--default-signal=INT", *clean.probe_command("--timeout", "30")]
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    automate = host(clean, "automate")
    # The agents listen (tcp/9639, never named, is the agent's own), and probe for 30 s.
    assert eventually(
        lambda: (str(automate.addresses[0]), "tcp", 9639) in clean.listeners(automate)
    )
    time.sleep(0.5)
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=30)

    assert running.returncode == 130
    assert "hasg: interrupted" in stderr
