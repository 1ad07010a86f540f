"""commands: see the modules."""
