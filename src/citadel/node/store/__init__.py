"""The node's encrypted store: one SQLCipher file holding indices, documents and security."""
