"""Runs firewalld's own code (Debian's `firewalld` package) inside a test
network namespace: `ip netns exec NS python3 firewalld_core.py CONFIG RUN`.

firewalld's core is started once with CONFIG as its configuration directory
(/etc/firewalld's layout) and RUN as its runtime directory: it applies
CONFIG's zones and ipsets as nftables rules to the namespace's kernel, as the
daemon would, and exits. No D-Bus, no daemon left running. The system's
Python runs it: firewalld's modules are installed for it only.
"""

import sys

sys.path.append("/usr/lib/python3/dist-packages")

import firewall.config as config

config.set_system_config_paths(sys.argv[1])
config.FIREWALLD_TEMPDIR = sys.argv[2]

from firewall.core.fw import Firewall  # noqa: E402

firewall = Firewall()
firewall.start()
print(firewall.get_state(), firewall.get_default_zone())
