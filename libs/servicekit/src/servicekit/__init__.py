"""supportops service kit: what every service is built from."""
