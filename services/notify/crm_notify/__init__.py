"""crm_notify."""
