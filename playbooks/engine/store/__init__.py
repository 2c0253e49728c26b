"""The one door for a run's checkpoint writes and its guarded run-row saves.

Step checkpoints (`checkpoint`), run-row saves (`run_row`), event rows (`event_rows`), audit
rows (`run_audit`), tool calls recorded apart (`calls_apart`) or made through the API
(`api_calls`); callers import the module they need."""
