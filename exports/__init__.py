"""EC2-to-S3 instance exports (a feature app beside migrations_app). Not installed until it holds something."""
