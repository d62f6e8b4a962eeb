variable "vpc_id" {
  description = "ID of the VPC the security groups belong to."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id such as vpc-0123456789abcdef0."
  }
}

variable "admin_cidrs_ipv4" {
  description = "IPv4 CIDRs of the administrators who may SSH to the bastion. With no admin CIDR of either family: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv4 : can(cidrnetmask(c))])
    error_message = "admin_cidrs_ipv4 must hold only IPv4 CIDRs, such as 198.51.100.0/24."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv4 : contains(["0.0.0.0/0"], try(cidrsubnet(c, 0, 0), "")) ? false : true])
    error_message = "admin_cidrs_ipv4 must not hold 0.0.0.0/0 (in any spelling): the list opens tcp/22, which only 80 and 443 may open to the internet."
  }
}

variable "admin_cidrs_ipv6" {
  description = "IPv6 CIDRs of the administrators who may SSH to the bastion. With no admin CIDR of either family: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv6 : can(cidrnetmask(c)) ? false : can(cidrhost(c, 0))])
    error_message = "admin_cidrs_ipv6 must hold only IPv6 CIDRs, such as 2001:db8::/48."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs_ipv6 : contains(["::/0"], try(cidrsubnet(c, 0, 0), "")) ? false : true])
    error_message = "admin_cidrs_ipv6 must not hold ::/0 (in any spelling): the list opens tcp/22, which only 80 and 443 may open to the internet."
  }
}

variable "user_cidrs_ipv4" {
  description = "IPv4 CIDRs of the users who may reach the entry points on 443 and 80. With no user CIDR of either family: only addresses inside the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.user_cidrs_ipv4 : can(cidrnetmask(c))])
    error_message = "user_cidrs_ipv4 must hold only IPv4 CIDRs, such as 198.51.100.0/24."
  }
}

variable "user_cidrs_ipv6" {
  description = "IPv6 CIDRs of the users who may reach the entry points on 443 and 80. With no user CIDR of either family: only addresses inside the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.user_cidrs_ipv6 : can(cidrnetmask(c)) ? false : can(cidrhost(c, 0))])
    error_message = "user_cidrs_ipv6 must hold only IPv6 CIDRs, such as 2001:db8::/48."
  }
}
