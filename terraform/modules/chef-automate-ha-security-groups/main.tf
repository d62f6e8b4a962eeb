data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  admin_cidrs_ipv4 = zipmap(var.admin_cidrs_ipv4, var.admin_cidrs_ipv4)
  admin_cidrs_ipv6 = zipmap(var.admin_cidrs_ipv6, var.admin_cidrs_ipv6)
  user_cidrs_ipv4  = length(concat(var.user_cidrs_ipv4, var.user_cidrs_ipv6)) == 0 ? tomap({ vpc = data.aws_vpc.this.cidr_block }) : zipmap(var.user_cidrs_ipv4, var.user_cidrs_ipv4)
  user_cidrs_ipv6  = zipmap(var.user_cidrs_ipv6, var.user_cidrs_ipv6)

  # hasg:policy-digest as hasg computes it (hasg.core.digest): the hash of the policy's shape, then each CIDR list as given.
  policy_shape  = "e111a89b1d4bf95f3bec75534ddc6986c6ef56407ff77333e67ab1401a4dd190"
  policy_digest = substr(sha256(join("\n", [local.policy_shape, "admin_cidrs_ipv4=${join(",", var.admin_cidrs_ipv4)}", "admin_cidrs_ipv6=${join(",", var.admin_cidrs_ipv6)}", "user_cidrs_ipv4=${join(",", var.user_cidrs_ipv4)}", "user_cidrs_ipv6=${join(",", var.user_cidrs_ipv6)}"])), 0, 16)
}

resource "aws_security_group" "automate" {
  # checkov:skip=CKV2_AWS_5: this module only creates the group; the caller attaches it to what plays the automate role (output security_group_ids)
  name        = "chef-automate-ha-automate"
  description = "Chef Automate HA frontend nodes (UI, API, data collector)"
  vpc_id      = var.vpc_id
  tags = {
    Name                 = "chef-automate-ha-automate"
    "hasg:cluster"       = "chef-automate-ha"
    "hasg:policy-digest" = local.policy_digest
    "hasg:role"          = "automate"
    managed-by           = "hasg"
  }
}

resource "aws_security_group" "bastion" {
  # checkov:skip=CKV2_AWS_5: this module only creates the group; the caller attaches it to what plays the bastion role (output security_group_ids)
  name        = "chef-automate-ha-bastion"
  description = "Chef Automate HA bastion: deploys and verifies the cluster"
  vpc_id      = var.vpc_id
  tags = {
    Name                 = "chef-automate-ha-bastion"
    "hasg:cluster"       = "chef-automate-ha"
    "hasg:policy-digest" = local.policy_digest
    "hasg:role"          = "bastion"
    managed-by           = "hasg"
  }
}

resource "aws_security_group" "chef_server" {
  # checkov:skip=CKV2_AWS_5: this module only creates the group; the caller attaches it to what plays the chef_server role (output security_group_ids)
  name        = "chef-automate-ha-chef-server"
  description = "Chef Infra Server HA frontend nodes"
  vpc_id      = var.vpc_id
  tags = {
    Name                 = "chef-automate-ha-chef-server"
    "hasg:cluster"       = "chef-automate-ha"
    "hasg:policy-digest" = local.policy_digest
    "hasg:role"          = "chef_server"
    managed-by           = "hasg"
  }
}

resource "aws_security_group" "opensearch" {
  # checkov:skip=CKV2_AWS_5: this module only creates the group; the caller attaches it to what plays the opensearch role (output security_group_ids)
  name        = "chef-automate-ha-opensearch"
  description = "Chef Automate HA OpenSearch backend nodes (Habitat ring)"
  vpc_id      = var.vpc_id
  tags = {
    Name                 = "chef-automate-ha-opensearch"
    "hasg:cluster"       = "chef-automate-ha"
    "hasg:policy-digest" = local.policy_digest
    "hasg:role"          = "opensearch"
    managed-by           = "hasg"
  }
}

resource "aws_security_group" "postgresql" {
  # checkov:skip=CKV2_AWS_5: this module only creates the group; the caller attaches it to what plays the postgresql role (output security_group_ids)
  name        = "chef-automate-ha-postgresql"
  description = "Chef Automate HA PostgreSQL backend nodes (Habitat ring)"
  vpc_id      = var.vpc_id
  tags = {
    Name                 = "chef-automate-ha-postgresql"
    "hasg:cluster"       = "chef-automate-ha"
    "hasg:policy-digest" = local.policy_digest
    "hasg:role"          = "postgresql"
    managed-by           = "hasg"
  }
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_80_from_user_cidrs_ipv4" {
  for_each = local.user_cidrs_ipv4

  security_group_id = aws_security_group.automate.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_80_from_user_cidrs_ipv6" {
  for_each = local.user_cidrs_ipv6

  security_group_id = aws_security_group.automate.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv6         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_443_from_user_cidrs_ipv4" {
  for_each = local.user_cidrs_ipv4

  security_group_id = aws_security_group.automate.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_443_from_user_cidrs_ipv6" {
  for_each = local.user_cidrs_ipv6

  security_group_id = aws_security_group.automate.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv6         = each.value
}

resource "aws_vpc_security_group_egress_rule" "automate_tcp_5432_to_postgresql" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "automate_tcp_6432_to_postgresql" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 6432
  to_port                      = 6432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "automate_tcp_7432_to_postgresql" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "automate_tcp_9200_to_opensearch" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Automate to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "automate_tcp_9631_to_opensearch" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Automate to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "automate_tcp_9631_to_postgresql" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_22_from_bastion" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_443_from_chef_server" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Chef Infra Server sends data to Chef Automate on 443 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_7799_from_bastion" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_9631_from_bastion" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "automate_tcp_9638_from_bastion" {
  security_group_id            = aws_security_group.automate.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "bastion_tcp_22_from_admin_cidrs_ipv4" {
  for_each = local.admin_cidrs_ipv4

  security_group_id = aws_security_group.bastion.id
  description       = "Administrators SSH to the bastion on 22, the only way in for operators"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "bastion_tcp_22_from_admin_cidrs_ipv6" {
  for_each = local.admin_cidrs_ipv6

  security_group_id = aws_security_group.bastion.id
  description       = "Administrators SSH to the bastion on 22, the only way in for operators"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv6         = each.value
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_22_to_automate" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.automate.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_22_to_chef_server" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.chef_server.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_22_to_opensearch" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_22_to_postgresql" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_80_to_0_0_0_0_0" {
  security_group_id = aws_security_group.bastion.id
  description       = "Bastion downloads Chef packages and the airgap bundle from the internet"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_443_to_0_0_0_0_0" {
  security_group_id = aws_security_group.bastion.id
  description       = "Bastion downloads Chef packages and the airgap bundle from the internet"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_7432_to_postgresql" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_7799_to_automate" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.automate.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_7799_to_chef_server" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.chef_server.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_7799_to_opensearch" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_7799_to_postgresql" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9200_to_opensearch" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9631_to_automate" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.automate.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9631_to_chef_server" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.chef_server.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9631_to_opensearch" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9631_to_postgresql" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9638_to_automate" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Automate: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.automate.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9638_to_chef_server" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.chef_server.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9638_to_opensearch" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "bastion_tcp_9638_to_postgresql" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_80_from_user_cidrs_ipv4" {
  for_each = local.user_cidrs_ipv4

  security_group_id = aws_security_group.chef_server.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_80_from_user_cidrs_ipv6" {
  for_each = local.user_cidrs_ipv6

  security_group_id = aws_security_group.chef_server.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv6         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_443_from_user_cidrs_ipv4" {
  for_each = local.user_cidrs_ipv4

  security_group_id = aws_security_group.chef_server.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_443_from_user_cidrs_ipv6" {
  for_each = local.user_cidrs_ipv6

  security_group_id = aws_security_group.chef_server.id
  description       = "Users reach the UI and API on 443, 80 redirects to 443 (Security and Firewall)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv6         = each.value
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_443_to_automate" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server sends data to Chef Automate on 443 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.automate.id
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_5432_to_postgresql" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_6432_to_postgresql" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 6432
  to_port                      = 6432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_7432_to_postgresql" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_9200_to_opensearch" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_9631_to_opensearch" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "chef_server_tcp_9631_to_postgresql" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_22_from_bastion" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_7799_from_bastion" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_9631_from_bastion" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "chef_server_tcp_9638_from_bastion" {
  security_group_id            = aws_security_group.chef_server.id
  description                  = "Bastion deploys and checks Chef Infra Server: SSH 22, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_egress_rule" "opensearch_tcp_9200_to_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_tcp_9300_to_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9300
  to_port                      = 9300
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_tcp_9631_to_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_tcp_9631_to_postgresql" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_tcp_9638_to_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_tcp_9638_to_postgresql" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_udp_9638_to_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "opensearch_udp_9638_to_postgresql" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_22_from_bastion" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_7799_from_bastion" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9200_from_automate" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Chef Automate to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.automate.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9200_from_bastion" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9200_from_chef_server" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Chef Infra Server to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9200_from_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9300_from_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9300
  to_port                      = 9300
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9631_from_automate" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Chef Automate to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.automate.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9631_from_bastion" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9631_from_chef_server" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Chef Infra Server to OpenSearch: 9200 HTTPS API, 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9631_from_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9631_from_postgresql" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9638_from_bastion" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Bastion deploys and checks OpenSearch: SSH 22, 9200, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9638_from_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_tcp_9638_from_postgresql" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_udp_9638_from_opensearch" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "OpenSearch ring: API 9200, node transport 9300, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "opensearch_udp_9638_from_postgresql" {
  security_group_id            = aws_security_group.opensearch.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_5432_to_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_6432_to_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 6432
  to_port                      = 6432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_7432_to_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_9631_to_opensearch" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_9631_to_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_9638_to_opensearch" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_tcp_9638_to_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_udp_9638_to_opensearch" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
}

resource "aws_vpc_security_group_egress_rule" "postgresql_udp_9638_to_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_22_from_bastion" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_5432_from_automate" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.automate.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_5432_from_chef_server" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_5432_from_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_6432_from_automate" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 6432
  to_port                      = 6432
  referenced_security_group_id = aws_security_group.automate.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_6432_from_chef_server" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 6432
  to_port                      = 6432
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_6432_from_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 6432
  to_port                      = 6432
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_7432_from_automate" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.automate.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_7432_from_bastion" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_7432_from_chef_server" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_7432_from_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7432
  to_port                      = 7432
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_7799_from_bastion" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 7799
  to_port                      = 7799
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9631_from_automate" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.automate.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9631_from_bastion" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9631_from_chef_server" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, 7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.chef_server.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9631_from_opensearch" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9631_from_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9631
  to_port                      = 9631
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9638_from_bastion" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Bastion deploys and checks PostgreSQL: SSH 22, 7432, Habitat 9631 and 9638, automate-verify 7799 (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.bastion.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9638_from_opensearch" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_tcp_9638_from_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "tcp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_udp_9638_from_opensearch" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "Shared Habitat ring of the backends: 9631 API, 9638 gossip TCP and UDP (chef/automate a2ha-terraform)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.opensearch.id
  cidr_ipv4                    = null
}

resource "aws_vpc_security_group_ingress_rule" "postgresql_udp_9638_from_postgresql" {
  security_group_id            = aws_security_group.postgresql.id
  description                  = "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)"
  ip_protocol                  = "udp"
  from_port                    = 9638
  to_port                      = 9638
  referenced_security_group_id = aws_security_group.postgresql.id
  cidr_ipv4                    = null
}
