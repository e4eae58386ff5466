"""The durable batch job queue, kept in the application database."""
