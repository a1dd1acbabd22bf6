"""The simulated instruments, one module per family, each behind its own real endpoint."""
