"""The targets: each turns a Blueprint into one kind of firewall (AWS
security groups through boto3, a Terraform module, a CloudFormation template,
a host's nftables ruleset or firewalld zone) and, where it can, reads that
kind back for the checks (`Backend.audit`).

The seam is `base.py`; a target is a module or package here that defines
`BACKEND` (the AWS backend plans and applies instead, and defines none).
A backend imports the core, `hasg.hosts`, `base` and its own package
(tests/test_layers.py keeps it so), never the compiler, a checker or the CLI.
"""
