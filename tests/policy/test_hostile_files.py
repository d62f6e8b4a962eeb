"""Hostile and ambiguous policy files: every one is refused with one line per
problem that names the file (and the line and column where there is one),
through the library and through `hasg verify --policy FILE`; never a
traceback, never a guess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hasg
from hasg.cli import main
from hasg.core.yaml_source import MAX_DEPTH, yaml_ambiguity
from hasg.errors import HasgError, PolicyFileError
from hasg.policy.file import MAX_FILE_BYTES, dump_policy, load_policy_file, load_policy_text

GOOD_YAML = dump_policy(hasg.chef_automate_ha())
ROLES = "roles:\n  - id: web\n    description: Web servers\n"


def refused_in_file(tmp_path: Path, name: str, content: bytes | str) -> str:
    """The one-line-per-problem error of the library, which the CLI prints as is."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    return message.removeprefix(str(path))


def cli_says(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["verify", "--policy", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"hasg: error: {path}")
    return lines[0]


# --------------------------------------------------------------------------- hostile


HOSTILE: dict[str, tuple[str, bytes, str]] = {
    "500 levels of YAML nesting": (
        "p.yaml",
        b"cluster: x\nroles: " + b"[" * 500 + b"]" * 500 + b"\n",
        f":2:{MAX_DEPTH + 7}: broken YAML: nested more than {MAX_DEPTH} levels deep",
    ),
    "500 levels of JSON nesting": (
        "p.json",
        b'{"cluster": "x", "roles": ' + b"[" * 500 + b"]" * 500 + b"}",
        f":1:{MAX_DEPTH + 26}: broken JSON: nested more than {MAX_DEPTH} levels deep",
    ),
    "100,000 levels of JSON nesting": (
        "p.json",
        b"[" * 100_000 + b"]" * 100_000,
        f":1:{MAX_DEPTH + 1}: broken JSON: nested more than {MAX_DEPTH} levels deep",
    ),
    "a 5,000-digit integer in YAML": (
        "p.yaml",
        b"cluster: x\nssh_port: " + b"9" * 5000 + b"\n" + ROLES.encode(),
        ":2:11: ssh_port: a number of 5,000 digits is no value of a policy",
    ),
    "a 5,000-digit integer in JSON": (
        "p.json",
        b'{"cluster": "x", "ssh_port": ' + b"9" * 5000 + b"}",
        ":1:30: broken JSON: Exceeds the limit (4300 digits) for integer string conversion",
    ),
    "a control character in a YAML comment": (
        "p.yaml",
        b"cluster: x  # bell \x07 here\n" + ROLES.encode(),
        ":1:20: broken YAML: character '\\x07' is not allowed in YAML",
    ),
    "an escape sequence in a YAML comment": (
        "p.yaml",
        b"# \x1b[2J\ncluster: x\n" + ROLES.encode(),
        ":1:3: broken YAML: character '\\x1b' is not allowed in YAML",
    ),
    "a NUL byte in YAML": ("p.yaml", b"cluster: x\x00\n", ":1:11: broken YAML: character"),
    "a control character in a JSON string": (
        "p.json",
        b'{"cluster": "x\x07"}',
        ":1:15: broken JSON: Invalid control character at",
    ),
    "NaN in JSON": ("p.json", b'{"ssh_port": NaN}', ":1:14: broken JSON: NaN is not a JSON value"),
    "not UTF-8": ("p.yaml", b"cluster: caf\xe9\n", ":1:13: is not UTF-8 text (byte 12)"),
    "a lone surrogate": ("p.yaml", b"cluster: \xed\xa0\x80\n", ":1:10: is not UTF-8 text (byte 9)"),
    "a huge file": (
        "p.yaml",
        b"# " + b"x" * MAX_FILE_BYTES + b"\n",
        f": is larger than {MAX_FILE_BYTES:,} bytes, which no policy is",
    ),
    "an alias bomb": (
        "p.yaml",
        b"cluster: x\n"
        + ROLES.encode()
        + b"ssh_port: [&a [x, x, x, x, x, x, x, x, x], "
        + b", ".join(
            f"&{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]".encode() for i in range(8)
        )
        + b"]\n",
        ":5:11: ssh_port: expected a whole number, got a list",
    ),
    "a Python object tag": (
        "p.yaml",
        b"cluster: !!python/object/apply:os.system [echo hi]\n",
        ":1:10: broken YAML: could not determine a constructor for the tag",
    ),
}


@pytest.mark.parametrize(("name", "content", "expected"), HOSTILE.values(), ids=HOSTILE)
def test_hostile_files_are_one_line_errors(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    message = refused_in_file(tmp_path, name, content)
    assert message.startswith(expected), message
    first = message.splitlines()[0]
    assert first.isprintable(), first


@pytest.mark.parametrize(("name", "content", "expected"), HOSTILE.values(), ids=HOSTILE)
def test_hostile_files_through_hasg_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, expected: str
) -> None:
    line = cli_says(tmp_path, capsys, name, content)
    assert expected.split(":", 3)[-1].strip()[:20] in line


@pytest.mark.parametrize(
    ("path", "expected"),
    [("missing.yaml", "cannot read: No such file or directory"), (".", "cannot read: ")],
)
def test_a_file_that_cannot_be_read_is_a_policy_file_error(
    tmp_path: Path, path: str, expected: str
) -> None:
    target = tmp_path / path
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(target)
    assert str(caught.value).startswith(f"{target}: {expected}")
    assert isinstance(caught.value, HasgError)


# --------------------------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ('{"cluster": "a",\n "cluster": "b"}', "2:2"),
        ('{\n\t"cluster": "a",\n\t"cluster": "b"\n}', "3:2"),  # tabs: YAML cannot read this
        ('{"cluster":"a","roles":[{"id":"w","id":"x"}]}', "1:35"),
        ('{"cluster":\r\n"a",\r\n\t "cluster" : "b"}', "3:3"),
    ],
)
def test_json_duplicate_keys_are_refused_at_their_position_whatever_the_whitespace(
    text: str, position: str
) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="p.json", file_format="json")
    assert str(caught.value).startswith(f"p.json:{position}: "), str(caught.value)
    assert "is given twice" in str(caught.value)


def test_json_with_tabs_keeps_the_positions_of_its_errors() -> None:
    text = '{\n\t"cluster": "shop",\n\t"ssh_port": 70000,\n\t"roles": []\n}'
    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="p.json", file_format="json")
    assert str(caught.value).splitlines() == [
        "p.json:3:14: ssh_port: input should be less than or equal to 65535 (got 70000)",
        "p.json:4:11: roles: needs at least 1 item",
    ]


# --------------------------------------------------------------------------- ambiguous YAML


AMBIGUOUS = {
    "octal ssh port": ("ssh_port: 022", "2:11: ssh_port: YAML 1.1 reads 022 as an octal number"),
    "octal port": ("ports: [0443]", "ports[0]: YAML 1.1 reads 0443 as an octal number"),
    "sexagesimal port": ("ports: [1:20]", "ports[0]: YAML 1.1 reads 1:20 as a base-60 number"),
    "yes as a role": ("destination: yes", "destination: YAML 1.1 reads yes as a boolean"),
    "off as a role": ("destination: off", "destination: YAML 1.1 reads off as a boolean"),
    "y as a role": ("destination: y", "destination: YAML 1.1 reads y as a boolean"),
    "hex port": ("ports: [0x1bb]", "ports[0]: YAML readers disagree on 0x1bb"),
    "underscored port": ("ports: [4_43]", "ports[0]: YAML readers disagree on 4_43"),
    "date description": ("description: 2024-01-01", "YAML 1.1 reads 2024-01-01 as a date"),
}


def flow_file(line: str) -> str:
    fields = {"source": "web", "destination": "web", "ports": "[443]", "description": "x"}
    key, _, value = line.partition(": ")
    fields[key] = value
    ssh = line if key == "ssh_port" else "ssh_port: 22"
    body = "\n".join(f"    {k}: {v}" for k, v in fields.items() if k != "ssh_port")
    return f"cluster: shop\n{ssh}\n{ROLES}flows:\n  - name: f\n{body}\n"


@pytest.mark.parametrize(("line", "expected"), AMBIGUOUS.values(), ids=AMBIGUOUS)
def test_ambiguous_yaml_scalars_are_refused_where_they_stand(line: str, expected: str) -> None:
    text = flow_file(line)
    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="p.yaml")
    (problem,) = caught.value.problems
    assert expected in str(problem), str(problem)
    assert problem.line > 0 and problem.column > 0
    row = text.splitlines()[problem.line - 1]
    plain = expected.split(" reads ")[-1].split(" as ")[0].split(" on ")[-1]
    assert row[problem.column - 1 :].startswith(plain.split()[-1]) or ":" in expected


@pytest.mark.parametrize("line", ["ssh_port: '022'", "description: '2024-01-01'"])
def test_quoted_they_are_what_they_say(line: str) -> None:
    if line.startswith("ssh_port"):
        with pytest.raises(PolicyFileError, match="'022' is text; write 022 without quotes"):
            load_policy_text(flow_file(line), name="p.yaml")
    else:
        assert load_policy_text(flow_file(line)).flows[0].description == "2024-01-01"


def test_an_explicit_tag_says_what_is_meant() -> None:
    text = flow_file("destination: !!str yes")
    text = text.replace(ROLES, ROLES + "  - id: 'yes'\n    description: Web\n")
    assert load_policy_text(text).flows[0].destination == hasg.RolePeer(role="yes")


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_are_a_policy_or_a_policy_file_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    for name in ("p.yaml", "p.json"):
        path = tmp_path_factory.mktemp("f") / name
        path.write_bytes(data)
        try:
            load_policy_file(path)
        except PolicyFileError as error:
            assert all(line.startswith(str(path)) for line in str(error).splitlines())


def mutations() -> st.SearchStrategy[str]:
    """A good policy with a hostile piece spliced in: control characters,
    brackets, YAML syntax, huge numbers, lookalike scalars."""
    pieces = st.one_of(
        st.sampled_from(
            [
                "\x00",
                "\x07",
                "\x1b[2J",
                "\t",
                "\r",
                "\u2028",
                "\ufeff",
                "[",
                "{",
                "&a",
                "*a",
                "!!binary",
                "!!python/name:os.system",
                "<<: *a",
                "9" * 5000,
                "0443",
                "1:20",
                "no",
                "- ",
                ": ",
                "#",
                "'",
                '"',
                "\\",
                "%YAML 1.1\n---\n",
                "---\n",
                "...\n",
            ]
        ),
        st.text(max_size=5),
    )
    return st.tuples(st.integers(0, len(GOOD_YAML)), pieces).map(
        lambda cut: GOOD_YAML[: cut[0]] + cut[1] + GOOD_YAML[cut[0] :]
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_a_spliced_yaml_policy_is_read_or_refused_with_one_line_per_problem(text: str) -> None:
    try:
        load_policy_text(text, name="p.yaml")
    except PolicyFileError as error:
        for line in str(error).splitlines():
            assert line.startswith("p.yaml"), line


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=40,
    ),
    st.sampled_from(["\t", "\n", " ", "\r\n\t"]),
)
def test_any_json_value_is_a_policy_or_a_policy_file_error(value: object, whitespace: str) -> None:
    text = json.dumps(value, indent=whitespace)
    try:
        load_policy_text(text, name="p.json", file_format="json")
    except PolicyFileError as error:
        for line in str(error).splitlines():
            assert line.startswith("p.json"), line


@given(
    st.sampled_from(
        [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "022",
            "0443",
            "1:20",
            "0x1f",
            "0o17",
            "1_000",
            "2024-01-01",
        ]
    )
)
def test_the_writer_quotes_what_the_reader_would_refuse(word: str) -> None:
    assert yaml_ambiguity(word) is not None
    policy = hasg.Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": "web", "description": word}],
            "tags": {"k": word},
        }
    )
    assert load_policy_text(dump_policy(policy)) == policy
