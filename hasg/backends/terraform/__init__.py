"""Terraform: the Blueprint as HCL, and HCL read back into a Blueprint."""
