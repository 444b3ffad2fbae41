"""What the service runs on: databases, the event store, credentials, the read cache."""
