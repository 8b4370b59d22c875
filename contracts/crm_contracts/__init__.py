"""crm_contracts."""
