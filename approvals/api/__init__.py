"""REST endpoints for the approval queue."""
