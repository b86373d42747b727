"""Container networking: none, host, bridge."""
