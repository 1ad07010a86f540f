"""preflight: see the modules."""
