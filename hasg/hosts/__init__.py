"""Host firewalls' own layer: who plays which role on a site (the inventory),
each host's rules resolved to addresses, and the probe space they are judged
on. Shared by the host targets (nftables, firewalld), the host audits and
`hasg probe`; below them, above the core (it imports the core only).
"""
