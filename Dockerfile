# One image for every carepath process (api, worker, scheduler, flower, migrate); the command picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY workflows ./workflows
COPY models ./models
COPY config ./config
COPY workers ./workers
COPY api ./api
COPY cli ./cli
RUN pip install . flower && useradd --create-home carepath
USER carepath

EXPOSE 8000
CMD ["carepath", "api", "--host", "0.0.0.0", "--port", "8000"]
