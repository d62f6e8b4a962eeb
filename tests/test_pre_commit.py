"""hasg's pre-commit hooks (.pre-commit-hooks.yaml), run by pre-commit itself
on a throw-away git repository, offline.

pre-commit does what it does for any user of the hooks: it clones this
repository at a commit, builds a virtual environment and pip-installs hasg
into it (`language: python`). Offline means in a network namespace of the
test's own, with no interface up, and pip told to use no index: hasg's
dependencies come from `.wheelhouse` (wheels `.ci/install-tools` downloads
beforehand), hasg itself is built from this repository's source."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from policy.graph_parsers import require

from hasg.cli import main

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=27)

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / ".wheelhouse"
CLI_DOC = REPO / "docs" / "cli.md"
WORLD_SSH = """
resource "aws_vpc_security_group_ingress_rule" "ssh_from_anywhere" {
  security_group_id = aws_security_group.bastion.id
  description       = "anyone"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = "0.0.0.0/0"
}
"""
GIT = {
    "GIT_AUTHOR_NAME": "hasg tests",
    "GIT_AUTHOR_EMAIL": "tests@hasg.invalid",
    "GIT_COMMITTER_NAME": "hasg tests",
    "GIT_COMMITTER_EMAIL": "tests@hasg.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This repository as a user's pre-commit finds it: a git repository at one
    commit (`rev`), holding what git would commit here now (tracked files, and
    new ones it does not ignore)."""
    require(
        "pre-commit and git",
        importlib.util.find_spec("pre_commit") is not None and shutil.which("git") is not None,
        "pip install -e '.[test]'; apt-get install git",
    )
    require(
        "the wheels of hasg's dependencies",
        (WHEELHOUSE / ".complete").exists(),
        "bash .ci/install-tools",
    )
    require(
        "a network namespace of the test's own",
        shutil.which("unshare") is not None and os.geteuid() == 0,
        "run as root, with util-linux's unshare",
    )
    copy = tmp_path_factory.mktemp("hooks") / "hasg"
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "hasg as the hooks' repository")
    return copy, git(copy, "rev-parse", "HEAD").strip()


def pre_commit(work: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`pre-commit ARGS` in `work`, in a network namespace with no interface
    up, pip finding packages in .wheelhouse alone."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))},
        **GIT,
        "PRE_COMMIT_HOME": str(home),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_CONFIG_FILE": os.devnull,
        "NO_COLOR": "1",
    }
    return subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "pre_commit", *args, "--color", "never"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def hasg(*argv: str) -> None:
    assert main(list(argv)) == 0


def work_repository(directory: Path, module: str = ".") -> Path:
    """A user's repository: the built-in policy's module (at `module`) and two
    policy files, `policy.yaml` and `prod/policy.yaml`, staged."""
    directory.mkdir()
    hasg("emit", "terraform", "--out", str(directory / module))
    hasg("init", "--out", str(directory / "policy.yaml"))
    (directory / "prod").mkdir()
    hasg("init", "--cluster", "prod", "--out", str(directory / "prod" / "policy.yaml"))
    # Not a policy: the verify hook leaves it alone.
    (directory / "ci.yaml").write_text("steps: [test]\n", encoding="utf-8")
    git(directory, "init", "-q")
    git(directory, "add", "-A")
    return directory


def test_try_repo_runs_both_hooks_on_a_clean_repository(
    hooks: tuple[Path, str], tmp_path: Path
) -> None:
    """`pre-commit try-repo`, as a user tries hooks before adding them. It builds
    the hooks' environment afresh on every call (a store of its own), so it
    runs once; each hook failing is shown with the documented configuration
    below, where pre-commit builds it once for both runs."""
    repository, rev = hooks
    work = work_repository(tmp_path / "work")

    clean = pre_commit(
        work,
        "try-repo",
        str(repository),
        "--ref",
        rev,
        "--all-files",
        "--verbose",
        home=tmp_path / "home",
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert re.search(r"^hasg audit --hcl\.+Passed$", clean.stdout, re.MULTILINE), clean.stdout
    assert re.search(r"^hasg verify --policy\.+Passed$", clean.stdout, re.MULTILINE)
    assert "clean: the groups and rules read hold exactly the policy's" in clean.stdout
    # Each policy file, once; the other YAML file, not at all.
    assert clean.stdout.count("== policy.yaml\n") == 1
    assert clean.stdout.count("== prod/policy.yaml\n") == 1
    assert "ci.yaml" not in clean.stdout


def example_config() -> str:
    """The .pre-commit-config.yaml docs/cli.md shows."""
    section = CLI_DOC.read_text(encoding="utf-8").split("## pre-commit hooks")[1]
    (config,) = re.findall(r"^```yaml\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)[:1]
    return config


def test_the_example_configuration_in_the_docs_runs_and_each_hook_fails_on_what_it_checks(
    hooks: tuple[Path, str], tmp_path: Path
) -> None:
    repository, rev = hooks
    config = yaml.safe_load(example_config())
    (entry,) = config["repos"]
    assert [h["id"] for h in entry["hooks"]] == ["hasg-audit-hcl", "hasg-verify-policy"]
    entry.update(repo=str(repository), rev=rev)
    module = "terraform/security-groups"
    work = work_repository(tmp_path / "work", module=module)
    (work / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    git(work, "add", "-A")
    home = tmp_path / "home"

    clean = pre_commit(work, "run", "--all-files", home=home)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert re.search(r"^hasg audit --hcl\.+Passed$", clean.stdout, re.MULTILINE), clean.stdout
    assert re.search(r"^hasg verify --policy\.+Passed$", clean.stdout, re.MULTILINE)

    # The module no longer matches the policy, on both sides: the policy
    # edited (a port moved), the module edited (SSH opened to the world).
    (work / "policy.yaml").write_text(
        (work / "policy.yaml").read_text(encoding="utf-8").replace("tcp/7799]", "tcp/7798]", 1),
        encoding="utf-8",
    )
    with (work / module / "main.tf").open("a", encoding="utf-8") as main_tf:
        main_tf.write(WORLD_SSH)
    # And a policy file that cannot be read.
    prod = work / "prod" / "policy.yaml"
    prod.write_text(prod.read_text(encoding="utf-8").replace("tcp/5432,", "tcp/70000,", 1))
    git(work, "add", "-A")
    drifted = pre_commit(work, "run", "--all-files", home=home)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert re.search(r"^hasg audit --hcl\.+Failed$", drifted.stdout, re.MULTILINE)
    assert "- exit code: 2" in drifted.stdout  # drift
    assert "tcp/7799" in drifted.stdout and "tcp/7798" in drifted.stdout
    assert "extra rule" in drifted.stdout and "ingress tcp/22 from 0.0.0.0/0" in drifted.stdout
    assert re.search(r"^hasg verify --policy\.+Failed$", drifted.stdout, re.MULTILINE)
    assert re.search(r"prod/policy\.yaml:\d+:\d+: .*70000", drifted.stdout), drifted.stdout


def test_the_verify_hook_takes_files_only(capsys: pytest.CaptureFixture[str]) -> None:
    """pre-commit puts a hook's args before the file names: an option would be
    read as a policy file, or take one as its value. Refused, in one line."""
    from hasg.cli import precommit

    assert precommit.main(["verify-policy", "--vpc", "policy.yaml"]) == 1
    out, err = capsys.readouterr()
    assert (
        out == "" and err == "hasg: error: hasg-verify-policy takes policy files only, not --vpc\n"
    )
    assert precommit.main(["audit"]) == 1
    assert "usage: python -m hasg.cli.precommit verify-policy FILE..." in capsys.readouterr().err
