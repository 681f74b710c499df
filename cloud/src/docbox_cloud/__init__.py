"""docbox cloud."""
