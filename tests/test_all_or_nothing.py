"""`hasg emit --out DIR` writes all of its files or none: with a directory
named `<host>.nft` already in --out, seven host files were written before
the error (an IsADirectoryError), and a deployment would have picked up half
a site. Every place is checked before the first file is written, files are
written under temporary names and renamed into place once all are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasg.cli import main
from hasg.errors import UsageError

FIXTURES = Path(__file__).with_name("hosts") / "fixtures"
SITE = ["--inventory", str(FIXTURES / "config.toml"), "--bastion", "198.18.0.5"]
SITE += ["--network", "198.18.0.0/24"]


def tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): "dir" if p.is_dir() else p.read_text(encoding="utf-8")
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize(
    ("target", "obstacle", "is_directory", "why"),
    [
        ("nftables", "198.18.0.20.nft", True, "is a directory, where hasg writes the file"),
        ("firewalld", "198.18.0.20", False, "198.18.0.20 is a file, where 198.18.0.20/ipsets/"),
        ("firewalld", "198.18.0.30/ipsets", False, "is a file, where 198.18.0.30/ipsets/"),
        ("terraform", "main.tf", True, "is a directory, where hasg writes the file main.tf"),
    ],
)
def test_something_in_the_way_of_one_file_writes_none(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    target: str,
    obstacle: str,
    is_directory: bool,
    why: str,
) -> None:
    out = tmp_path / "out"
    (out / obstacle).parent.mkdir(parents=True, exist_ok=True)
    if is_directory:
        (out / obstacle).mkdir()
    else:
        (out / obstacle).write_text("someone's\n", encoding="utf-8")
    before = tree(out)
    args = ["emit", target, *(SITE if target != "terraform" else []), "--out", str(out)]
    assert main(args) == 1
    assert tree(out) == before  # not one file more, no temporary file left
    printed = capsys.readouterr()
    assert printed.out == "" and "Traceback" not in printed.err
    assert printed.err.count("\n") == 1 and why in printed.err
    assert printed.err.rstrip().endswith("nothing was written")


def test_a_name_the_file_system_refuses_leaves_nothing(tmp_path: Path) -> None:
    """The file system refuses the fourth name (too long): the three before it,
    written already under temporary names, and the directories made for them,
    are gone."""
    from hasg.cli.files import write_all

    out = tmp_path / "out"
    files = {"a.nft": "a\n", "h/zones/z.xml": "z\n", "h/ipsets/i.xml": "i\n", "x" * 300: "x\n"}
    with pytest.raises(UsageError, match="File name too long; nothing was written"):
        write_all(files, out)
    assert not out.exists()


def test_files_already_there_are_replaced_whole(tmp_path: Path) -> None:
    from hasg.cli.files import write_all

    out = tmp_path / "out"
    write_all({"a.nft": "old\n", "h/zones/z.xml": "old\n"}, out)
    write_all({"a.nft": "new\n", "h/zones/z.xml": "new\n"}, out)
    assert tree(out) == {"a.nft": "new\n", "h": "dir", "h/zones": "dir", "h/zones/z.xml": "new\n"}


def test_a_new_file_has_the_mode_writing_it_directly_gives_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    from hasg.cli.files import write_all

    out = tmp_path / "out"
    (tmp_path / "direct").write_text("x", encoding="utf-8")
    write_all({"new.nft": "x\n", "old.nft": "x\n"}, out)
    (out / "old.nft").chmod(0o640)
    write_all({"new.nft": "y\n", "old.nft": "y\n"}, out)
    assert (out / "new.nft").stat().st_mode & 0o777 == (tmp_path / "direct").stat().st_mode & 0o777
    assert (out / "old.nft").stat().st_mode & 0o777 == 0o640
