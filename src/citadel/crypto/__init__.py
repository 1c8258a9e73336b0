"""Key material: providers that hold key-encryption keys, the keyring, and the barrier."""
