"""One module of thin routes per domain."""
