"""The Devin API v3 client: transport (timeouts, retries, one error type), sessions,
resources (notes, playbooks, schedules), request bodies, safe attachment download."""
