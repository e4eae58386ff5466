"""Authentication (who is calling) and authorisation (what they may do), shared by every API."""
