"""Every error hasg reports on purpose, and the exit codes of every command.

One module, so that bootstrap code catches one type (`hasg.HasgError`) and
the CLI maps one type to one exit code. Each error is a single line that
says what is wrong and where (file:line:column, field, rule or group).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """What every `hasg` command returns, as Terraform's do: 0 all is well,
    1 an error (bad input, AWS refused, a checker could not read something),
    2 changes pending (`plan --detailed-exitcode`) or drift (`audit`)."""

    OK = 0
    ERROR = 1
    CHANGES = 2


class HasgError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits 1."""


class UsageError(HasgError):
    """A command or function called with arguments that do not fit together."""


class QuotaError(HasgError):
    """More than AWS allows: rules in a group, resources or bytes in a template."""


class PolicyError(HasgError):
    """A policy that is not valid: a field, or the policy as a whole."""


class HclReadError(HasgError):
    """Terraform text that hasg cannot read back into a Blueprint."""


class OwnershipError(HasgError):
    """hasg was asked to act on something that is not provably its own."""


class ConcurrentChangeError(HasgError):
    """Someone else changed hasg's groups while hasg was changing them."""


class AwsError(HasgError):
    """AWS refused or failed a call. `code` is EC2's error code, when there is one."""

    def __init__(self, message: str, *, code: str = "", operation: str = "") -> None:
        super().__init__(" ".join(message.split()))
        self.code = code
        self.operation = operation


# A long list of problems buries the first; the rest show up on the next run.
MAX_PROBLEMS = 20


class Problem(NamedTuple):
    """One thing wrong with an input file, and where."""

    line: int  # 1-based; 0 when the position is not known
    column: int
    file: str
    path: str  # the field, e.g. flows[3].ports[0]; "" for the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyFileError(PolicyError):
    """A policy file that hasg cannot use; one line per problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.line == 0, p)))
        lines = [str(p) for p in self.problems[:MAX_PROBLEMS]]
        if len(self.problems) > MAX_PROBLEMS:
            lines.append(f"... and {len(self.problems) - MAX_PROBLEMS} more problems")
        super().__init__("\n".join(lines))


class InventoryError(PolicyFileError):
    """An inventory (config.toml or YAML/JSON hosts) hasg cannot use, or one
    that does not give the policy what it needs; one line per problem,
    file:line:column first, like a policy file's."""


class NftReadError(HasgError):
    """A file that is not the JSON of `nft -j list ruleset` at all (what a
    host's ruleset holds but hasg cannot interpret is a finding instead)."""


class FirewalldReadError(HasgError):
    """firewalld XML that hasg cannot read back."""


class TemplateReadError(HasgError):
    """A CloudFormation template that hasg cannot read back into a Blueprint."""


class RuleConflictError(HasgError):
    """One group holds two rules that AWS sees as one (same `Rule.key`) but that
    say different things (their descriptions differ): AWS keeps one rule per
    key, so hasg will not pick one of the two silently."""


class DumpReadError(HasgError):
    """A file that is not what the AWS CLI writes for `aws ec2
    describe-security-groups` (or describe-security-group-rules, describe-vpcs)
    with `--output json`, or dumps that do not make one consistent VPC."""
