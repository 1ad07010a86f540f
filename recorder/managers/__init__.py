"""managers: see the modules."""
