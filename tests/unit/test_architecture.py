"""The pathway core stays pure (no database, broker, web or SMS package), and the store speaks only to its database.

Which of our own layers may import which is `test_layers.py`'s; this file guards the third-party side.
"""

from pathlib import Path

from import_graph import files_importing, imported_roots

import models
import workflows

FORBIDDEN = {
    "sqlmodel", "sqlalchemy", "alembic", "psycopg", "celery", "kombu", "redis", "twilio", "fastapi", "starlette",
    "apscheduler", "httpx", "requests", "uvicorn", "models", "workers", "api", "cli", "config",
}


def test_workflows_imports_no_infrastructure():
    assert files_importing(Path(workflows.__file__).parent, FORBIDDEN) == {}


# The store reaches its database and nothing else: brokers, web frameworks and SMS providers are adapters above it.
STORE_FORBIDDEN = {"celery", "kombu", "redis", "twilio", "fastapi", "starlette", "apscheduler", "httpx", "requests",
                   "uvicorn"}


def test_models_imports_no_broker_web_or_sms_package():
    assert files_importing(Path(models.__file__).parent, STORE_FORBIDDEN) == {}


def test_the_check_would_notice_an_infrastructure_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom sqlalchemy import select\nfrom workflows import stages\n")
    assert imported_roots(sample) & FORBIDDEN == {"sqlalchemy"}
