"""Who is calling: Supabase access tokens verified, and the DRF authentication and permission.

- :mod:`~analytics.auth.tokens`: verifies an access token, free of DRF.
- :mod:`~analytics.auth.jwks`: the project's signing keys, read from its JWKS, kept per process.
- :mod:`~analytics.auth.authentication`: ``SupabaseJWTAuthentication`` (and the live-session
  read), and ``BelongsToAgency``, which scopes every read to the caller's agency.

Beside the heatmap: nothing here reads calls, and nothing in :mod:`analytics.heatmap`
imports from here.
"""
