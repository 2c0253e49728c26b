"""Tools that playbooks call through the broker: registry, risk classes and built-ins."""
