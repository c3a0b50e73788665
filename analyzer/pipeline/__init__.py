"""The organization-scale pipeline's building blocks (the Prefect flow in ``flows/``
only orchestrates them): read CloudTrail with DuckDB or Athena, dedupe denials in
SQL, map and analyse each distinct group once, and write Parquet tables.
"""
