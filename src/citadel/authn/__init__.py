"""Authentication primitives: who is calling, and checks of the credentials they present."""
