"""Zone transforms: landing -> raw (ingest), raw -> cleaned (clean). DataFrame in, DataFrame out."""
