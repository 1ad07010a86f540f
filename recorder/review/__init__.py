"""review: see the modules."""
