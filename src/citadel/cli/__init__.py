"""The command line: `citadel up`, local admin commands, and API commands through the client."""
