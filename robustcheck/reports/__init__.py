"""The report model and its pure renderers."""
