"""The audit trail: who changed what, when, with which credential."""
