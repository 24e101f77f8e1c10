"""Validation: contract rules as Spark expressions, one-pass measurement, metrics history and anomalies."""
