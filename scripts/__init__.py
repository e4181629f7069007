"""Developer scripts run with ``python -m scripts.<name>``: the demo seeder and the API tour."""
