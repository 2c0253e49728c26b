"""Cross-cutting API pieces: pagination and the API root URLs."""
