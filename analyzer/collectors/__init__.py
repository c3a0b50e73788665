"""Collectors: read policies from live AWS with boto3 (snapshot, get-scps, live mode).

Importing this package imports no boto3; the modules below do.
"""
