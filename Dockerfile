# syntax=docker/dockerfile:1
# One Dockerfile, one image per component: each final stage is the shared runtime plus
# its component's entrypoint. Build one with `--target`:
#   docker build --target ticket-service -t ticketing/ticket-service .
#   ticket-service       python -m ticket_service      [serve | migrate | backfill NAME]
#   escalation-service   python -m escalation_service  [serve | migrate]
#   gateway              python -m gateway
#   chatwoot-sim         python -m chatwoot_sim         (development and demos only)
# docker-compose.yml and deploy/k8s/ use these names; tests/deploy/ reads the stages below
# to know which component an image runs.
#
# The image holds no tenants file: it carries credentials. Mount one and point
# TICKETING_TENANTS_FILE at it (default /etc/ticketing/tenants.toml); docker-compose.yml
# mounts ./config there, Kubernetes a Secret.

# A patch release, not a moving `3.11` tag, so a rebuild gets the same interpreter.
# Production builds should pin the digest too: PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

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
COPY chatwoot_sim chatwoot_sim
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
COPY --from=build /app/chatwoot_sim chatwoot_sim
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TICKETING_TENANTS_FILE=/etc/ticketing/tenants.toml
USER 10001:10001


FROM runtime AS chatwoot-sim
EXPOSE 3000
ENTRYPOINT ["python", "-m", "chatwoot_sim"]

FROM runtime AS escalation-service
# gRPC, metrics
EXPOSE 50052 9102
ENTRYPOINT ["python", "-m", "escalation_service"]

FROM runtime AS gateway
EXPOSE 8080
ENTRYPOINT ["python", "-m", "gateway"]

# Last, so a plain `docker build .` builds the ticket service.
FROM runtime AS ticket-service
# gRPC, metrics
EXPOSE 50051 9101
ENTRYPOINT ["python", "-m", "ticket_service"]
