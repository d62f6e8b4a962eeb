output "security_group_ids" {
  description = "Security group id of each role."
  value = {
    automate    = aws_security_group.automate.id
    bastion     = aws_security_group.bastion.id
    chef_server = aws_security_group.chef_server.id
    opensearch  = aws_security_group.opensearch.id
    postgresql  = aws_security_group.postgresql.id
  }
}

output "automate_security_group_id" {
  description = "Security group of the automate role (chef-automate-ha-automate)."
  value       = aws_security_group.automate.id
}

output "bastion_security_group_id" {
  description = "Security group of the bastion role (chef-automate-ha-bastion)."
  value       = aws_security_group.bastion.id
}

output "chef_server_security_group_id" {
  description = "Security group of the chef_server role (chef-automate-ha-chef-server)."
  value       = aws_security_group.chef_server.id
}

output "opensearch_security_group_id" {
  description = "Security group of the opensearch role (chef-automate-ha-opensearch)."
  value       = aws_security_group.opensearch.id
}

output "postgresql_security_group_id" {
  description = "Security group of the postgresql role (chef-automate-ha-postgresql)."
  value       = aws_security_group.postgresql.id
}
