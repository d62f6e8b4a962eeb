provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

module "security_groups" {
  source = "../../modules/chef-automate-ha-security-groups"

  vpc_id           = var.vpc_id
  user_cidrs_ipv4  = var.user_cidrs_ipv4
  user_cidrs_ipv6  = var.user_cidrs_ipv6
  admin_cidrs_ipv4 = var.admin_cidrs_ipv4
  admin_cidrs_ipv6 = var.admin_cidrs_ipv6
}
