"""Strategic plans: plans, plan items, statuses, metrics and their history."""
