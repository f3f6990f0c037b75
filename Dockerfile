# syntax=docker/dockerfile:1
# One image for the ticket service, the escalation service and the gateway; the command
# picks which one runs (see docker-compose.yml):
#   python -m ticket_service [migrate] | python -m escalation_service | python -m gateway
#
# The image holds no tenants file: it carries credentials. Mount one and point
# TICKETING_TENANTS_FILE at it (default /etc/ticketing/tenants.toml); docker-compose.yml
# mounts ./config there.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app

# Dependencies in their own layer, rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project

# The stubs need grpcio-tools and mypy-protobuf, which are dev dependencies.
COPY protos protos
COPY scripts scripts
RUN PATH="/app/.venv/bin:$PATH" bash scripts/gen_stubs.sh

COPY common common
COPY ticket_service ticket_service
COPY escalation_service escalation_service
COPY gateway gateway
# `uv sync` is exact: --no-dev takes the dev tools out again and installs the project
# (editable, so /app and /app/gen are on sys.path).
RUN uv sync --frozen --no-dev


FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 ticketing \
    && useradd --system --uid 10001 --gid ticketing --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin ticketing \
    && install -d -o 10001 -g 10001 /var/lib/gateway
WORKDIR /app
# Owned by root and read-only for the service user. Only the gateway writes locally (its
# spool), to GATEWAY_SPOOL_PATH on a volume.
COPY --from=build /app/.venv .venv
COPY --from=build /app/gen gen
COPY --from=build /app/common common
COPY --from=build /app/ticket_service ticket_service
COPY --from=build /app/escalation_service escalation_service
COPY --from=build /app/gateway gateway
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TICKETING_TENANTS_FILE=/etc/ticketing/tenants.toml
USER 10001:10001
EXPOSE 50051 50052 8080
CMD ["python", "-m", "ticket_service"]
