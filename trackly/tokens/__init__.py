"""Personal access tokens: long-lived, scoped credentials for scripts and service accounts."""
