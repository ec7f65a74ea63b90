"""Request budgets per user or client address, counted in PostgreSQL (shared by every instance)."""
