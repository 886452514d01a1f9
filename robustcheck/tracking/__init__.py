"""Where a finished scan is recorded besides its report files (MLflow: :mod:`.mlflow_run`)."""
