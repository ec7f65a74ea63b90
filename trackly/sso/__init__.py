"""Single sign-on: Microsoft (MSAL, Entra ID / External ID) and Google ID tokens.

Every sign-in is accepted only with a verified ID token; the identity is then mapped to a
Trackly user by `linking.resolve_user`.
"""
