"""pytest fixtures for the AWS sandbox (filled in by the sandbox work)."""
