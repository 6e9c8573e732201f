"""The ops dashboard: server-rendered pages behind a session cookie (no front-end build, nothing from a CDN).

`signin` (login, logout, the session cookie), `access` (the user a page admits, and how pages answer refusals),
`overview` and `patient` (the pages), `escalations` (acting on the worklist), `headers` (security headers, static
files), `templating` (templates and filters, shared with the console). `router` gathers them.
"""
