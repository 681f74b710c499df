"""docbox provisioning."""
