"""Organisation-defined ``CF_…`` fields on feed modules."""
