"""The bench workloads, one module per concern."""
