"""User administration: listing, creating, editing and deactivating accounts."""
