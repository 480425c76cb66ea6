"""Sensors: wait on a remote run someone else started."""
