# Star Export: one image for the web site (gunicorn) and the Celery worker and beat.
# docker-compose.yml builds it once and runs it three times with different commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    PATH="/app/.venv/bin:$PATH"

# age decrypts archives in the shell for operators (the site encrypts with pyrage); rclone copies
# archives to the users' rclone remotes (Dropbox, Google Drive, OneDrive…). Both from Debian.
RUN apt-get update \
    && apt-get install -y --no-install-recommends age rclone ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "uv>=0.5,<1"

WORKDIR /app

# Dependencies first, from the lock file only: this layer is rebuilt only when they change.
# --no-dev leaves out the test tools (pytest, moto, playwright).
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# The project itself. Listed one by one rather than `COPY . .`, so the host's .venv/, var/
# (SQLite database, stored tokens, archives) and staticfiles/ never end up in the image.
COPY manage.py ./
COPY starexport ./starexport
COPY accounts ./accounts
COPY api ./api
COPY exports ./exports
COPY library ./library
COPY platforms ./platforms
COPY templates ./templates
COPY static ./static

# Run as an unprivileged user; var/ holds the worker's partial downloads, staticfiles/ is
# filled by `collectstatic` when the web container starts.
RUN useradd --system --uid 10001 --home-dir /app starexport \
    && mkdir -p var staticfiles \
    && chown -R starexport:starexport var staticfiles
USER starexport

EXPOSE 8000
CMD ["gunicorn", "starexport.wsgi", "--bind", "0.0.0.0:8000"]
