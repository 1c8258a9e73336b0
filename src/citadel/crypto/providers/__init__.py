"""Key providers: where key-encryption keys live. Chosen from a key path by `provider_for`."""
