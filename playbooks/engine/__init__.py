"""The durable run engine: leases, checkpoints, step kinds, events, providers."""
