"""crm_proposals."""
