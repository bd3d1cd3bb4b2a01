"""The cutover gateway: passthrough, shadow, sticky canary and full, in front of both sides."""
