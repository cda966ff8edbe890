"""Readers: one per public file format, each returning a table keyed by variant."""
