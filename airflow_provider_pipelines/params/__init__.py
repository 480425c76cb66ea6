"""Checks of vendor parameters that operators and sensors run when a DAG file is parsed.

Airflow parses DAG files constantly, so these modules import nothing heavy: no HTTP
library, no request or response types. The vendor API modules re-use them.
"""
