"""Benchmarks: each module prints a table and ends with one line of JSON results."""
