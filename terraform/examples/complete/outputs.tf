output "security_group_ids" {
  description = "Security group id of each role: attach them to the instances, load balancers and managed services of that role."
  value       = module.security_groups.security_group_ids
}

output "bastion_security_group_id" {
  description = "Security group of the bastion, the only way in for administrators."
  value       = module.security_groups.bastion_security_group_id
}
