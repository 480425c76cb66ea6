"""Operators: start a remote run and wait for it."""
