"""capture: see the modules."""
