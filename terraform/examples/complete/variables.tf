variable "region" {
  description = "AWS region of the VPC."
  type        = string
}

variable "vpc_id" {
  description = "ID of the VPC the Chef Automate HA cluster runs in."
  type        = string
}

variable "user_cidrs_ipv4" {
  description = "IPv4 CIDRs of the users of Chef Automate and Chef Infra Server (443, 80)."
  type        = list(string)
  default     = []
}

variable "user_cidrs_ipv6" {
  description = "IPv6 CIDRs of the users of Chef Automate and Chef Infra Server (443, 80)."
  type        = list(string)
  default     = []
}

variable "admin_cidrs_ipv4" {
  description = "IPv4 CIDRs of the administrators who SSH to the bastion."
  type        = list(string)
  default     = []
}

variable "admin_cidrs_ipv6" {
  description = "IPv6 CIDRs of the administrators who SSH to the bastion."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource the provider creates (cost centre, owner)."
  type        = map(string)
  default     = {}
}
