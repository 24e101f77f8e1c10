"""Deploy and run the job scripts on AWS Glue, EMR and EMR Serverless; catalog registration; IAM."""
