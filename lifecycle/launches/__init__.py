"""Launching an instance from a template: a small durable job (RunInstances with a ClientToken saved before the
call, and the token also tagged onto the instance and looked up first), recorded as a launched instance."""
