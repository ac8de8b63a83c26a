# The Tasks web app, its migrator and its Dramatiq worker: one image, three commands
# (see docker-compose.yml). Build with a chosen Python:
#   docker build --build-arg PYTHON_VERSION=3.12 -t tasks .
# 3.14 is the default because every package pinned in requirements.lock ships a wheel for it.
ARG PYTHON_VERSION=3.14

FROM python:${PYTHON_VERSION}-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml requirements.lock ./
# Only the runtime dependencies, pinned by the lock (no dev extra). The project itself is
# installed from a stub and removed again: its code is copied to /app in the final stage,
# so this layer is rebuilt only when the dependencies change, not on every code edit.
RUN mkdir webapp \
    && touch README.md webapp/__init__.py \
    && pip install --no-cache-dir --constraint requirements.lock . \
    && pip uninstall --yes tasks-webapp


FROM python:${PYTHON_VERSION}-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system --gid 10001 tasks \
    && useradd --system --uid 10001 --gid tasks --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tasks

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY webapp/ webapp/
COPY migrations/ migrations/
COPY templates/ templates/
COPY static/ static/
# Code stays owned by root (the app cannot rewrite itself); bytecode is compiled now
# because the app user cannot write __pycache__. var/ is the app's only writable place.
RUN python -m compileall -q webapp migrations \
    && install -d -o tasks -g tasks var

# Numeric, so a runtime that checks runAsNonRoot can tell without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=2)"]
CMD ["python", "-m", "webapp", "serve", "--no-migrate"]
