"""crm_kit."""
