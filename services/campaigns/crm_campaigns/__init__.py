"""crm_campaigns."""
