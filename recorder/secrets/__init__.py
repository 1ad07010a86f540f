"""secrets: see the modules."""
