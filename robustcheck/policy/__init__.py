"""ε-budget policies: the schema and its pure evaluation."""
