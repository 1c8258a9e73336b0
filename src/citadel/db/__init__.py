"""Storage: the engine (SQLCipher or PostgreSQL), the base model, and transactions."""
