"""docbox edge."""
