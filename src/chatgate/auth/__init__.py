"""Who is calling: bearer-token verification and the verified caller.

- `verify` — the only place a JWT is decoded (`TokenVerifier`, `VerifierConfig`).
- `jwks` — the JSON Web Key Set cache the verifier draws asymmetric keys from.
- `dev_secret` — the generated HS256 secret of development mode (no auth configured).
- `principal` — `Principal`, the verified caller every later step receives.

The package imports nothing itself, so a tool server that needs only `Principal` does not load the
verifier.
"""
