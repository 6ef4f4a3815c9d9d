"""Connectors: the agents beside a tenant's vCenter (registration, signed requests, rotation, revocation), the
portal's signing key, and the platform's capacity pool row that migration admission locks."""
