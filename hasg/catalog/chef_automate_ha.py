"""The built-in Chef Automate HA policy: every documented port, nothing more.

Sources cited in descriptions (see docs/ports.md):
- "Security and Firewall" (Chef Automate HA docs): the port table.
- "Firewall Checks" (Chef HA deployment prerequisites, 2023-2025): who talks
  to whom; the matrix this policy follows flow by flow.
- chef/automate terraform/a2ha-terraform (upstream Terraform): the shared
  Habitat ring of PostgreSQL and OpenSearch.

Where upstream's Terraform opens SSH to the world, lets every node reach every
node and allows all egress, this policy names each flow: role-to-role group
references, user CIDRs only on the entry points' 443/80, admin CIDRs only on
the bastion's SSH, and egress only for what a role initiates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from hasg.core.ports import WORLD_SAFE_TCP_PORTS
from hasg.errors import PolicyError
from hasg.policy.model import Policy, PrefixListPeer, whole_number

MAX_PORT = 65535

ROLES: dict[str, str] = {
    "automate": "Chef Automate HA frontend nodes (UI, API, data collector)",
    "chef_server": "Chef Infra Server HA frontend nodes",
    "postgresql": "Chef Automate HA PostgreSQL backend nodes (Habitat ring)",
    "opensearch": "Chef Automate HA OpenSearch backend nodes (Habitat ring)",
    "bastion": "Chef Automate HA bastion: deploys and verifies the cluster",
    "load_balancer": "Chef Automate HA load balancer in front of the frontends",
}

# With managed backends the backend roles' groups are attached to the AWS services.
MANAGED_ROLES: dict[str, str] = {
    "postgresql": "Amazon RDS for PostgreSQL serving Chef Automate HA (managed backend)",
    "opensearch": "Amazon OpenSearch Service domain serving Chef Automate HA (managed backend)",
}

SHORT_NAMES: dict[str, str] = {
    "automate": "Chef Automate",
    "chef_server": "Chef Infra Server",
    "postgresql": "PostgreSQL",
    "opensearch": "OpenSearch",
}
FRONTENDS = ("automate", "chef_server")
BACKENDS = ("postgresql", "opensearch")

# Well-known ports, named once (Chef "Security and Firewall" and "Firewall Checks").
HTTPS = 443
HTTP_REDIRECT = 80
POSTGRESQL = 5432
PG_LEADER_CHECK = 6432  # automate-ha-pgleaderchk on each PostgreSQL node
PG_HAPROXY = 7432  # HAProxy on each PostgreSQL node, forwards to the leader's 5432
OPENSEARCH_API = 9200
OPENSEARCH_TRANSPORT = 9300
HABITAT_API = 9631
HABITAT_GOSSIP = 9638  # TCP for gossip payload, UDP for membership and failure detection
AUTOMATE_VERIFY = 7799  # automate-verify, reached by `chef-automate verify` on the bastion
MANAGED_OPENSEARCH_HTTPS = 443  # Amazon OpenSearch Service VPC domain endpoint

_SOURCE_FW = "Chef HA Firewall Checks"


# The catalog writes the policy as a policy file would hold it (ports in the
# one port grammar, peers as role ids, CIDRs, list names or prefix lists) and
# validates it once, as a whole: Policy's validator is the only one built, not
# one per nested model (the start-up of `hasg emit-hcl`, docs/benchmarks.md).
_Peer = str | PrefixListPeer
_FlowData = dict[str, Any]


def _tcp(port: int) -> str:
    return f"tcp/{port}"


def _flow(
    name: str,
    source: _Peer,
    destination: _Peer,
    ports: Iterable[str],
    description: str,
    *,
    public: bool = False,
) -> _FlowData:
    return {
        "name": name,
        "source": source,
        "destination": destination,
        "ports": list(ports),
        "description": description,
        "public": public,
    }


def _kebab(role: str) -> str:
    return role.replace("_", "-")


def chef_automate_ha(
    cluster: str = "chef-automate-ha",
    user_cidrs: Sequence[str] | None = None,
    admin_cidrs: Sequence[str] | None = None,
    *,
    ssh_port: int = 22,
    internet_egress_ports: Sequence[int] = (HTTP_REDIRECT, HTTPS),
    load_balancer: bool = False,
    http_redirect: bool = True,
    legacy_haproxy_from_frontends: bool = True,
    managed_postgresql: bool = False,
    managed_opensearch: bool = False,
    user_prefix_lists: Sequence[PrefixListPeer] = (),
    admin_prefix_lists: Sequence[PrefixListPeer] = (),
    tags: Mapping[str, str] | None = None,
    restrict_default_group: bool = False,
) -> Policy:
    """The Chef Automate HA policy.

    - `user_cidrs`: who may reach the entry points on 443 (and 80). None or
      empty: only addresses inside the VPC (unless `user_prefix_lists` say who).
    - `admin_cidrs`: who may SSH to the bastion. None or empty: nobody, as the
      documented table says (the bastion has no incoming port).
    - `ssh_port`: Chef supports a custom SSH port; every SSH flow uses it.
    - `internet_egress_ports`: what the bastion may fetch from the internet
      (package and bundle downloads); empty for an air-gapped bastion. Ports
      other than 80/443 make that flow public, since you asked for them.
    - `load_balancer`: add a `load_balancer` role; users then reach only it,
      and it forwards to the frontends.
    - `http_redirect`: keep port 80, the documented optional redirect to 443.
    - `legacy_haproxy_from_frontends`: keep 7432 from the frontends, which
      Chef deprecated in 2025 in favour of 5432 + 6432 but still lists.
    - `managed_postgresql`, `managed_opensearch`: the backend is Amazon RDS for
      PostgreSQL (5432) or an Amazon OpenSearch Service domain in the VPC
      (443), and its role's group is the one to attach to that service. A
      managed backend runs no Habitat and takes no SSH, so it gets no ring,
      gossip or bastion flows.
    - `restrict_default_group`: also revoke every rule of the VPC's default
      group (CIS AWS Foundations 5.4); see the policy field of that name.
    - `user_prefix_lists`, `admin_prefix_lists`: customer-managed prefix lists
      for CIDR lists too long for the rule quota. Each costs its max entries
      once per port it is opened on.

    Raises `PolicyError` (a `HasgError`) for a bad argument, naming it.
    Whether the groups fit AWS's rules-per-group quota (70 user CIDRs do not)
    is the compiler's to say: `compile_policy` raises `QuotaError`.
    """
    # Python does not check the arguments' types; a policy file's reader does.
    # Refuse here what would otherwise be misread: "22", 22.0, a string of CIDRs.
    ssh_port = _port_argument("ssh_port", ssh_port)
    internet_egress_ports = [
        _port_argument("internet_egress_ports", p)
        for p in _sequence_argument("internet_egress_ports", internet_egress_ports)
    ]
    user_cidrs = _sequence_argument("user_cidrs", user_cidrs or ())
    admin_cidrs = _sequence_argument("admin_cidrs", admin_cidrs or ())
    user_prefix_lists = [
        _prefix_list_argument("user_prefix_lists", p)
        for p in _sequence_argument("user_prefix_lists", user_prefix_lists)
    ]
    admin_prefix_lists = [
        _prefix_list_argument("admin_prefix_lists", p)
        for p in _sequence_argument("admin_prefix_lists", admin_prefix_lists)
    ]
    if not isinstance(tags or {}, Mapping):
        raise _argument_error(
            "tags", f"expected a mapping of tag keys to values, got {tags!r}"[:200]
        )
    ssh = _tcp(ssh_port)
    web = [_tcp(HTTPS)] + ([_tcp(HTTP_REDIRECT)] if http_redirect else [])
    managed = {"postgresql": managed_postgresql, "opensearch": managed_opensearch}
    self_hosted = [b for b in BACKENDS if not managed[b]]
    role_ids = [*FRONTENDS, *BACKENDS, "bastion"] + (["load_balancer"] if load_balancer else [])
    roles = {r: MANAGED_ROLES[r] if managed.get(r) else ROLES[r] for r in role_ids}
    flows: list[_FlowData] = []

    # Frontends -> backends (Firewall Checks rows "Automate" and "Infra Server").
    flows += [
        _frontend_to_backend(f, b, managed=managed[b], legacy=legacy_haproxy_from_frontends)
        for f in FRONTENDS
        for b in BACKENDS
    ]

    flows += _backend_ring_flows(self_hosted)

    # Bastion -> every node it deploys: SSH to configure, Habitat, and automate-verify.
    for node in [*FRONTENDS, *self_hosted]:
        flows.append(_bastion_flow(node, ssh_port))

    # Users -> entry points; with a load balancer, only through it.
    entry = ["load_balancer"] if load_balancer else list(FRONTENDS)
    # An empty user list means "the VPC" only when nothing else says who the users are.
    users = _list_and_prefix_lists(
        "user_cidrs", bool(user_cidrs or not user_prefix_lists), user_prefix_lists
    )
    for target in entry:
        for source, suffix in users:
            flows.append(
                _flow(
                    f"users{suffix}-to-{_kebab(target)}",
                    source,
                    target,
                    web,
                    "Users reach the UI and API on 443"
                    + (", 80 redirects to 443" if http_redirect else "")
                    + " (Security and Firewall)",
                )
            )
    if load_balancer:
        for frontend in FRONTENDS:
            flows.append(
                _flow(
                    f"load-balancer-to-{_kebab(frontend)}",
                    "load_balancer",
                    frontend,
                    web,
                    "Load balancer forwards 443"
                    + (" and 80" if http_redirect else "")
                    + f" to the frontends ({_SOURCE_FW})",
                )
            )
    # Infra Server sends data to Automate on 443 (through the Automate LB if any).
    flows.append(
        _flow(
            "chef-server-to-automate",
            "chef_server",
            "load_balancer" if load_balancer else "automate",
            [_tcp(HTTPS)],
            f"Chef Infra Server sends data to Chef Automate on 443 ({_SOURCE_FW})",
        )
    )

    # Admins -> bastion SSH. The admin list flow stays even when empty: its
    # Terraform variable is where admins are added later.
    for source, suffix in _list_and_prefix_lists("admin_cidrs", True, admin_prefix_lists):
        flows.append(
            _flow(
                f"admins{suffix}-to-bastion",
                source,
                "bastion",
                [ssh],
                f"Administrators SSH to the bastion on {ssh_port}, the only way in for operators",
            )
        )
    if internet_egress_ports:
        flows.append(
            _flow(
                "bastion-to-internet",
                "bastion",
                "0.0.0.0/0",
                [_tcp(p) for p in internet_egress_ports],
                "Bastion downloads Chef packages and the airgap bundle from the internet",
                public=not set(internet_egress_ports) <= WORLD_SAFE_TCP_PORTS,
            )
        )

    return Policy.model_validate(
        {
            "cluster": cluster,
            "roles": [
                {"id": r, "description": d, "managed": managed.get(r, False)}
                for r, d in roles.items()
            ],
            "flows": flows,
            "user_cidrs": list(user_cidrs),
            "admin_cidrs": list(admin_cidrs),
            "ssh_port": ssh_port,
            "tags": dict(tags or {}),
            "restrict_default_group": restrict_default_group,
        }
    )


def _argument_error(name: str, reason: object) -> PolicyError:
    return PolicyError(f"chef_automate_ha(): {name}: {reason}")


def _port_argument(name: str, value: object) -> int:
    try:
        port = whole_number(value)
    except ValueError as error:
        raise _argument_error(name, error) from None
    if not 1 <= port <= MAX_PORT:
        raise _argument_error(name, f"{port} is not a valid port (1-{MAX_PORT})")
    return port


def _sequence_argument(name: str, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _argument_error(name, f"expected a list, got {value!r}"[:200])
    return value


def _prefix_list_argument(name: str, value: object) -> PrefixListPeer:
    if isinstance(value, PrefixListPeer):
        return value
    if not isinstance(value, Mapping):
        raise _argument_error(name, f"expected a PrefixListPeer, got {value!r}"[:200])
    try:
        return PrefixListPeer.model_validate(value)
    except PolicyError as error:
        raise _argument_error(name, error) from None


def _frontend_to_backend(frontend: str, backend: str, *, managed: bool, legacy: bool) -> _FlowData:
    if backend == "postgresql" and managed:
        ports = [POSTGRESQL]
        why = "to Amazon RDS for PostgreSQL on 5432 (Chef HA managed services)"
    elif backend == "postgresql":
        ports = [POSTGRESQL, PG_LEADER_CHECK, *([PG_HAPROXY] if legacy else []), HABITAT_API]
        why = (
            "to PostgreSQL: 5432 SQL, 6432 leader check"
            + (", 7432 HAProxy (deprecated)" if legacy else "")
            + f", 9631 Habitat API ({_SOURCE_FW})"
        )
    elif managed:
        # Chef's managed-services page says 9200, but an Amazon OpenSearch Service
        # domain in a VPC serves its endpoint on HTTPS 443 (and 80), never 9200.
        ports = [MANAGED_OPENSEARCH_HTTPS]
        why = (
            "to the Amazon OpenSearch Service domain on HTTPS 443 "
            "(AWS VPC domains listen on 443; Chef docs say 9200)"
        )
    else:
        ports = [OPENSEARCH_API, HABITAT_API]
        why = f"to OpenSearch: 9200 HTTPS API, 9631 Habitat API ({_SOURCE_FW})"
    return _flow(
        f"{_kebab(frontend)}-to-{backend}",
        frontend,
        backend,
        [_tcp(p) for p in ports],
        f"{SHORT_NAMES[frontend]} {why}",
    )


def _backend_ring_flows(self_hosted: Sequence[str]) -> list[_FlowData]:
    """Each self-hosted backend cluster talks to its own members; together they
    form one Habitat ring (upstream Terraform peers them)."""
    gossip = [_tcp(HABITAT_GOSSIP), f"udp/{HABITAT_GOSSIP}"]
    flows = []
    if "postgresql" in self_hosted:
        flows.append(
            _flow(
                "postgresql-ring",
                "postgresql",
                "postgresql",
                [
                    _tcp(POSTGRESQL),
                    _tcp(PG_LEADER_CHECK),
                    _tcp(PG_HAPROXY),
                    _tcp(HABITAT_API),
                    *gossip,
                ],
                "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, "
                f"Habitat API 9631 and gossip 9638 TCP and UDP ({_SOURCE_FW})",
            )
        )
    if "opensearch" in self_hosted:
        flows.append(
            _flow(
                "opensearch-ring",
                "opensearch",
                "opensearch",
                [
                    _tcp(OPENSEARCH_API),
                    _tcp(OPENSEARCH_TRANSPORT),
                    _tcp(HABITAT_API),
                    *gossip,
                ],
                "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 "
                f"and gossip 9638 TCP and UDP ({_SOURCE_FW})",
            )
        )
    if len(self_hosted) == len(BACKENDS):
        for a, b in (("postgresql", "opensearch"), ("opensearch", "postgresql")):
            flows.append(
                _flow(
                    f"{a}-to-{b}-habitat",
                    a,
                    b,
                    [_tcp(HABITAT_API), *gossip],
                    "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP "
                    "(chef/automate a2ha-terraform)",
                )
            )
    return flows


def _bastion_flow(node: str, ssh_port: int) -> _FlowData:
    extra = {"postgresql": [PG_HAPROXY], "opensearch": [OPENSEARCH_API]}
    ports = [ssh_port, *extra.get(node, []), HABITAT_API, HABITAT_GOSSIP, AUTOMATE_VERIFY]
    return _flow(
        f"bastion-to-{_kebab(node)}",
        "bastion",
        node,
        [_tcp(p) for p in ports],
        f"Bastion deploys and checks {SHORT_NAMES[node]}: SSH {ssh_port}, "
        + "".join(f"{p}, " for p in extra.get(node, []))
        + f"Habitat 9631 and 9638, automate-verify 7799 ({_SOURCE_FW})",
    )


def _list_and_prefix_lists(
    cidr_list: Literal["user_cidrs", "admin_cidrs"],
    keep_list: bool,
    prefix_lists: Sequence[PrefixListPeer],
) -> list[tuple[_Peer, str]]:
    """The sources standing for one group of people, each with the suffix that
    keeps its flow's name unique."""
    sources: list[tuple[_Peer, str]] = []
    if keep_list:
        sources.append((cidr_list, ""))
    sources += [(p, f"-{p.prefix_list_id}") for p in prefix_lists]
    return sources
