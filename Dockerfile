# syntax=docker/dockerfile:1
# chatgate: build a wheel-installed virtualenv in one stage, run it as a non-root user in another.
# Build: docker build -t chatgate:0.1.0 .      Run: docker run -p 8000:8000 --env-file .env chatgate:0.1.0
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The same path in both stages, so the virtualenv's scripts find their interpreter.
RUN python -m venv /opt/chatgate \
    && /opt/chatgate/bin/pip install --no-cache-dir ".[otel]"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 chatgate \
    && useradd --system --uid 10001 --gid chatgate --home-dir /var/lib/chatgate --create-home chatgate
COPY --from=build /opt/chatgate /opt/chatgate
ENV PATH=/opt/chatgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHATGATE_ENV=production \
    CHATGATE_STATE_DIR=/var/lib/chatgate \
    MALLOC_ARENA_MAX=2
USER 10001:10001
WORKDIR /var/lib/chatgate
# 8000: the API; 9100: /metrics when METRICS_PORT=9100 (keep it off the public listener).
EXPOSE 8000 9100
# Liveness only: readiness (/readyz, a real tool-server launch) is for the load balancer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# `chatgate serve` drains on SIGTERM: SHUTDOWN_GRACE_SECONDS for chats in flight, then exit 0.
STOPSIGNAL SIGTERM
CMD ["chatgate", "serve", "--host", "0.0.0.0", "--port", "8000"]
