"""Runs: services, selectors, files, maintenance, finishing and pausing, the doorbell, and
calls made on a run from outside the worker."""
