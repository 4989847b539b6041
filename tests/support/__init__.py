"""Helpers the tests share: the layering check, a real PostgreSQL, a hostile-peer proxy, ..."""
