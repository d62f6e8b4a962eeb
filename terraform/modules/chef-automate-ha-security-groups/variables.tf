variable "vpc_id" {
  description = "ID of the VPC the security groups belong to."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id such as vpc-0123456789abcdef0."
  }
}

variable "admin_cidrs_ipv4" {
  description = "IPv4 CIDRs that may reach bastion on tcp/22. With no CIDR in either family: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv4 : can(cidrnetmask(c))])
    error_message = "admin_cidrs_ipv4 must hold only IPv4 CIDRs, such as 198.51.100.0/24."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv4 : try(cidrsubnet(c, 0, 0), "") != "0.0.0.0/0"])
    error_message = "admin_cidrs_ipv4 must not hold 0.0.0.0/0 (in any spelling): the list opens tcp/22, which a policy opens to the internet only in a public flow."
  }
}

variable "admin_cidrs_ipv6" {
  description = "IPv6 CIDRs that may reach bastion on tcp/22. With no CIDR in either family: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv6 : !can(cidrnetmask(c)) && can(cidrhost(c, 0))])
    error_message = "admin_cidrs_ipv6 must hold only IPv6 CIDRs, such as 2001:db8::/48."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv6 : try(cidrsubnet(c, 0, 0), "") != "::/0"])
    error_message = "admin_cidrs_ipv6 must not hold ::/0 (in any spelling): the list opens tcp/22, which a policy opens to the internet only in a public flow."
  }
}

variable "user_cidrs_ipv4" {
  description = "IPv4 CIDRs that may reach automate on tcp/80, tcp/443; chef_server on tcp/80, tcp/443. With no CIDR in either family: only addresses inside the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.user_cidrs_ipv4 : can(cidrnetmask(c))])
    error_message = "user_cidrs_ipv4 must hold only IPv4 CIDRs, such as 198.51.100.0/24."
  }
}

variable "user_cidrs_ipv6" {
  description = "IPv6 CIDRs that may reach automate on tcp/80, tcp/443; chef_server on tcp/80, tcp/443. With no CIDR in either family: only addresses inside the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.user_cidrs_ipv6 : !can(cidrnetmask(c)) && can(cidrhost(c, 0))])
    error_message = "user_cidrs_ipv6 must hold only IPv6 CIDRs, such as 2001:db8::/48."
  }
}
