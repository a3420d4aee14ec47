# The Action's container. Pinned to a full Python release tag (no digest): moving to a
# newer patch release is a deliberate edit of this line.
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
# The sources go once installed: /app is on sys.path (the entrypoint's folder) and
# must not shadow the installed package, whose bytecode pip compiled at install time.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir . && rm -rf bot build ./*.egg-info

COPY entrypoint.py ./

ENTRYPOINT ["python", "/app/entrypoint.py"]
