"""What `pgx serve` runs besides the app: the gunicorn access logger."""
