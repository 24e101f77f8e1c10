"""Feature sets: declarative specs, SQL derivations, fitted pyspark.ml pipelines, drift."""
