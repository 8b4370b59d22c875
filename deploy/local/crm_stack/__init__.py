"""crm_stack."""
