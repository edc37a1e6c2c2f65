"""incidents layer."""
