"""Organisations, users, teams and credentials (API keys, access tokens)."""
