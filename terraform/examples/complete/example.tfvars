# Documentation ranges (RFC 5737, RFC 3849): replace them with your own.
region           = "us-east-1"
vpc_id           = "vpc-0123456789abcdef0"
user_cidrs_ipv4  = ["198.51.100.0/24", "192.0.2.0/24"]
user_cidrs_ipv6  = ["2001:db8:1::/48"]
admin_cidrs_ipv4 = ["203.0.113.7/32"]
admin_cidrs_ipv6 = ["2001:db8:2::7/128"]
tags = {
  owner = "platform"
}
