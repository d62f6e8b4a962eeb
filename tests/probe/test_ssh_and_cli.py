"""How hasg asks ssh to reach a host, what it says when ssh fails, and the
command's refusals: each one line, exit 1, before any host is tried."""

from __future__ import annotations

import pytest

from hasg.checks.probe import ssh
from hasg.cli import main
from hasg.errors import UsageError
from tests.hosts.conftest import FIXTURES

CONFIG = FIXTURES / "config.toml"
SITE = ["--inventory", str(CONFIG), "--bastion", "198.18.0.5", "--network", "198.18.0.0/24"]


def option(command: list[str], name: str) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command) if word == "-o"
            and command[i + 1].startswith(f"{name}=")]  # fmt: skip


def test_ssh_is_strict_batch_and_never_writes_known_hosts() -> None:
    access = ssh.Access(user="ubuntu", key_file="/keys/a2ha.pem", port=2222, known_hosts="/k/h")
    command = access.ssh_command("198.18.0.10")
    assert command[:2] == ["ssh", "-T"]
    assert option(command, "BatchMode") == ["BatchMode=yes"]
    assert option(command, "StrictHostKeyChecking") == ["StrictHostKeyChecking=yes"]
    assert option(command, "UpdateHostKeys") == ["UpdateHostKeys=no"]
    assert option(command, "UserKnownHostsFile") == ["UserKnownHostsFile=/k/h"]
    assert option(command, "ControlMaster") == ["ControlMaster=no"]
    assert command[command.index("-p") + 1] == "2222"
    assert command[command.index("-l") + 1] == "ubuntu"
    assert command[command.index("-i") + 1] == "/keys/a2ha.pem"
    assert command[-3:] == ["--", "198.18.0.10", ssh.remote_command()]
    # Nothing said: ssh's own defaults (~/.ssh/known_hosts, the user, its keys).
    plain = ssh.Access().ssh_command("fd00:18::10")
    assert "-l" not in plain and "-i" not in plain and not option(plain, "UserKnownHostsFile")


@pytest.mark.parametrize(
    ("path", "given"),
    [
        ("/home/me/known_hosts", "/home/me/known_hosts"),
        ("/home/me/100%/known_hosts", "/home/me/100%%/known_hosts"),  # % is ssh's token
        ("/home/my keys/id", '"/home/my keys/id"'),  # whitespace separates files
    ],
)
def test_paths_reach_ssh_as_written(path: str, given: str) -> None:
    assert ssh.ssh_path(path) == given


@pytest.mark.parametrize("path", ['/a"b', "/a/${HOME}/k"])
def test_paths_ssh_would_read_otherwise_are_refused(path: str) -> None:
    with pytest.raises(UsageError, match="ssh cannot be given a path"):
        ssh.ssh_path(path)


def test_what_ssh_said_becomes_one_reason() -> None:
    unknown = (
        "No ED25519 host key is known for 198.18.0.30 and you have requested strict checking.\n"
        "Host key verification failed.\n"
    )
    assert ssh.explain(255, unknown, False).startswith(
        "SSH refused: its host key is not in known_hosts, or differs from the one there"
    )
    refused = "ssh: connect to host 198.18.0.20 port 22: Connection refused\n"
    assert ssh.explain(255, refused, False) == f"SSH failed: {refused.strip()}"
    old = "hasg probe: Python 3.6 or newer is needed, this is 3.5.2\n"
    assert ssh.explain(1, old, False) == "Python 3.6 or newer is needed, this is 3.5.2"
    assert ssh.explain(-9, "", True) == "the agent stopped (exit -9)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--timeout", "0"], "the timeout is more than 0 and at most 60 s, not 0.0"),
        (["--ssh-port", "70000"], "--ssh-port 70000 is not a port (1-65535)"),
        (["--ssh-user=-oProxyCommand=x"], "--ssh-user: '-oProxyCommand=x' is not a user name"),
        (["--unnamed-ports", "11"], "the unnamed ports are 0 to 10 ports, not 11"),
        (
            ["--ssh-key", "/nonexistent/key"],
            "--ssh-key: the SSH key /nonexistent/key cannot be read",
        ),
        (["--known-hosts", "/nonexistent/kh"], "--known-hosts /nonexistent/kh: no such file"),
    ],
)
def test_bad_options_are_one_line_and_exit_1(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    readable_key = ["--ssh-key", str(CONFIG)]  # any readable file: a later --ssh-key wins
    assert main(["probe", *SITE, *readable_key, *arguments]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"hasg: error: {message}")
    assert len(captured.err.splitlines()) == 1


def test_a_key_file_of_config_toml_that_is_not_there_is_placed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """config.toml names ~/.ssh/A2HA.pem (fixtures): refused at its line, before SSH."""
    assert main(["probe", *SITE]) == 1
    line = next(
        n
        for n, text in enumerate(CONFIG.read_text(encoding="utf-8").splitlines(), 1)
        if text.startswith("ssh_key_file = ")
    )
    assert capsys.readouterr().err == (
        f"hasg: error: {CONFIG}:{line}:1: ssh_key_file: the SSH key ~/.ssh/A2HA.pem "
        "cannot be read: No such file or directory\n"
    )
