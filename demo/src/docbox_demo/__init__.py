"""docbox demo."""
