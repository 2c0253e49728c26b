"""Billing: organization credit and the ledger of every credit movement."""
