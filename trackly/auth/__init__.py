"""Identity and access: passwords, tokens, the access policy, the signed-in user."""
