"""`hasg completion bash|zsh`: each shell loads the script as its users would
and completes commands, options, targets and choices with it.

bash is driven as its programmable completion calls a completion function
(COMP_WORDS, COMP_CWORD; the function `complete -p hasg` names). zsh is driven
for real: an interactive zsh in a pseudo-terminal (zsh/zpty), the script
installed in `fpath` as `_hasg` and loaded by `compinit`, a Tab typed, and the
candidates its completion system offers caught where they are added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from policy.graph_parsers import require

CASES = [
    ("hasg em", {"emit", "emit-hcl"}),
    ("hasg emit ", {"terraform", "cloudformation", "nftables", "firewalld"}),
    ("hasg emit nftables --inv", {"--inventory"}),
    ("hasg emit cloudformation --format ", {"yaml", "json"}),
    ("hasg audit --gr", {"--groups-json"}),
    ("hasg verify --format ", {"text", "json", "sarif"}),
    ("hasg compl", {"completion"}),
    ("hasg completion ", {"bash", "zsh"}),
]


def script(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hasg.cli", "completion", shell],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout


def bash_completions(path: Path, line: str) -> set[str]:
    """What bash's completion function for `hasg` offers for `line`."""
    words = line.split(" ")
    program = (
        f"source {path}\n"
        "function=$(complete -p hasg | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={line!r}\n"
        "COMP_POINT=${#COMP_LINE}\n"
        '"$function" hasg "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    return {w.strip() for w in done.stdout.splitlines() if w.strip()}


def test_bash_loads_the_script_and_completes(tmp_path: Path) -> None:
    require("bash", shutil.which("bash") is not None, "apt-get install bash")
    path = tmp_path / "hasg.bash"
    path.write_text(script("bash"), encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    for line, wanted in CASES:
        assert bash_completions(path, line) == wanted, line


# A marker the terminal's echo of the commands below never shows as typed.
_ZSH = """
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=({fpath} \\$fpath); autoload -U compinit; compinit -u -d {dump}"
zpty -w z 'compadd () {{ if [[ ${{@[1,(i)(-|--)]}} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; \
return $?; fi; typeset -a hits; builtin compadd -A hits "$@"; (( $#hits )) || return 1; \
local h; for h in $hits; do print -r -- "<HI""T>$h</HI""T>"; done; }}'
zpty -w z 'finish () {{ print "<DO""NE>"; }}; comppostfuncs=( finish )'
zpty -w z {line}$'\\t'
zpty -r z out '*<DONE>*'
print -r -- "$out"
zpty -d z
"""


def zsh_completions(fpath: Path, line: str, dump: Path) -> set[str]:
    """What zsh's completion system offers for `line` typed and then Tab."""
    quoted = "'" + line + "'"
    program = _ZSH.format(fpath=fpath, dump=dump, line=quoted)
    done = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    found = set()
    for chunk in done.stdout.split("<HIT>")[1:]:
        found.add(chunk.split("</HIT>")[0])
    return found


def test_zsh_loads_the_script_from_fpath_and_completes(tmp_path: Path) -> None:
    require("zsh", shutil.which("zsh") is not None, "apt-get install zsh (.ci/install-tools)")
    fpath = tmp_path / "functions"
    fpath.mkdir()
    (fpath / "_hasg").write_text(script("zsh"), encoding="utf-8")
    assert subprocess.run(["zsh", "-n", str(fpath / "_hasg")]).returncode == 0
    for index, (line, wanted) in enumerate(CASES):
        found = zsh_completions(fpath, line, tmp_path / f"dump{index}")
        assert found == wanted, line


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from hasg.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["completion", "fish"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "invalid choice: 'fish'" in error
