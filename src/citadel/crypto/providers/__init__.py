"""Key providers: where key-encryption keys live. Chosen from a key path by `open_provider`."""
