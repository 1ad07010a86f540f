"""Pure functions from a Session to the text of generated files."""
