"""The ops dashboard: server-rendered pages behind a session cookie (no front-end build, nothing from a CDN)."""
