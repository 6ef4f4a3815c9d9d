"""Connectors: the django-q2 clusters that run a tenant's vCenter work inside the tenant's network."""
