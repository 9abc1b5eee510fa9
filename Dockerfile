# regwatch: multi-stage build, slim runtime, non-root, database on the /data volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --upgrade pip==24.2 \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 regwatch \
 && mkdir /data && chown regwatch:regwatch /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER regwatch
WORKDIR /home/regwatch
ENV REGWATCH_DATABASE_PATH=/data/regwatch.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
ENTRYPOINT ["regwatch"]
CMD ["run"]
