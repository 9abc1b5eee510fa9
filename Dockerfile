# regwatch: multi-stage build, slim runtime, non-root, database on the /data volume.
# Secrets (the Discord token) come from the environment at run time, never from the image.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Optional extras: `docker build --build-arg EXTRAS=postgres .` adds the PostgreSQL backend
# (compose.yaml's `scale` profile builds it so); empty, the image holds the SQLite default only.
ARG EXTRAS=""
COPY pyproject.toml README.md ./
COPY bot ./bot
# A virtual environment copied whole into the runtime stage: no wheels or build files left behind,
# and no pip or setuptools inside it (nothing installs at run time; they are a quarter of its size).
RUN python -m venv /opt/regwatch \
 && /opt/regwatch/bin/pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
 && /opt/regwatch/bin/pip uninstall --yes pip setuptools

FROM python:3.11-slim
RUN groupadd --gid 10001 regwatch \
 && useradd --create-home --no-log-init --uid 10001 --gid 10001 regwatch \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/regwatch /opt/regwatch
USER 10001:10001
WORKDIR /home/regwatch
ENV PATH=/opt/regwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REGWATCH_DATABASE_PATH=/data/regwatch.db \
    REGWATCH_HEALTH_PORT=8080 \
    REGWATCH_HEALTH_HOST=0.0.0.0 \
    REGWATCH_IN_CONTAINER=1
# REGWATCH_IN_CONTAINER: `regwatch run` refuses to start (exit 2) when the database is not on a volume.
VOLUME ["/data"]
EXPOSE 8080
# The slim image has no curl: ask /healthz with the standard library (any non-2xx answer fails).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['REGWATCH_HEALTH_PORT'], timeout=4)"]
# SIGTERM (docker stop) stops polls and delivery cleanly; allow the grace period (docker run --stop-timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["regwatch"]
CMD ["run"]
