# The Action's container. Pinned tag (no digest) so security patches of the same
# Python release arrive with a deliberate bump.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# Build in /app only; at run time GitHub mounts the workspace and makes it the
# working directory, so every path used at run time is absolute. No USER: the
# Action must run as root to read the workspace.
WORKDIR /app

# Runtime dependencies only (the ranges come from pyproject.toml; no dev extras).
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir .

COPY entrypoint.py ./

ENTRYPOINT ["python", "/app/entrypoint.py"]
