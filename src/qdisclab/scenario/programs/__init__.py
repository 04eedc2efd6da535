"""Small tc programs used by the built-in scenarios."""
