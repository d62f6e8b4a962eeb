"""Targets other than AWS security groups: each turns host rulesets (or a
Blueprint) into the files of one firewall, and reads them back for checks.

Backends import the core only (hasg.core.blueprint, hasg.hosts.resolve, hasg.core.networks,
hasg.errors), never the compiler, a checker or the CLI.
"""
