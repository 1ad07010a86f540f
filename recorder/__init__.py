"""Record a hand-made deployment and turn it into a container image."""
