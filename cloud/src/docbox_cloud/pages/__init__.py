"""Server-rendered pages (booking page, staff console)."""
