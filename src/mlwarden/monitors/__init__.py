"""monitors layer."""
