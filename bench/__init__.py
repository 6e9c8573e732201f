"""`carepath bench`: figures measured against a baseline run in the same process, on the same services.

Absolute times on a shared machine drift; a ratio against a baseline measured minutes apart on the same PostgreSQL and
Redis does not (much). Each figure lives in its own module under `bench/figures/` and registers itself with `@figure`.
"""
