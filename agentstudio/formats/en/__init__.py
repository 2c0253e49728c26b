"""English formats: "8 Dec 2026 14:03 UTC"."""
