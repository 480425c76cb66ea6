"""Triggers: one class serves every vendor."""
