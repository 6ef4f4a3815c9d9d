"""The connector agent: a process beside a tenant's vCenter that reaches the portal over outbound HTTPS only.

It holds its own Ed25519 key (the portal keeps the public half), the portal's public keys it pinned at
registration, and nothing of the platform's: no database URL, no Django secret, no AWS credentials. It imports no
portal module and no Django (`python -c "import connector, sys; assert 'django' not in sys.modules"`); the portal
imports `connector.protocol`, the one definition of what both sides sign."""

__version__ = "0.1.0"
