"""The batch: every submission's grading as a Dask task, the ledger written as each result
arrives (a re-run grades only what is missing), the progress line."""
