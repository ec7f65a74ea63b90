"""Email: the second notification channel (docs/email.md)."""
