"""Sans-I/O vendor API objects: they build requests and parse responses, and never do I/O."""
