"""Test support shared across test directories (a real PostgreSQL, ...)."""
