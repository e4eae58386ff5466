"""Training schedules: companies, course templates, course dates and bookings."""
