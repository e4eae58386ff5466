"""Database plumbing: declarative base, engines, sessions, tenant scope and migrations."""
