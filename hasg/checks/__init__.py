"""Checks: what a Blueprint allows and how it differs from the policy. Import the core only."""
