"""The interpreter: loads playbooks and inventories, templates, and runs tasks on hosts."""
