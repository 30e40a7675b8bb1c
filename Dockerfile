# syntax=docker/dockerfile:1
# One image, two services: the IPP exporter (default command, port 8475) and the action service
# (`ipp-actions`, port 8476). docker-compose.yml runs both from this image; see docs/deployment.md.
# The project and its dependencies are built into wheels in the first stage and installed at BUILD
# time in the second, so a container start never reaches a package index.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# .dockerignore lets only pyproject.toml, README.md and the package directories through.
COPY . /src
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels /src

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ipp-monitoring" \
      org.opencontainers.image.description="Pan-STARRS IPP exporter (ipp-exporter) and action service (ipp-actions)"
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/wheels /wheels/ipp_monitoring-*.whl \
 && rm -rf /wheels \
 && ipp-exporter --help >/dev/null \
 && ipp-actions --help >/dev/null
# A fixed numeric uid so that secret files and the audit volume can be owned by it on the host.
RUN groupadd --system --gid 10001 ipp \
 && useradd --system --uid 10001 --gid ipp --home-dir /var/lib/ipp --create-home --shell /usr/sbin/nologin ipp \
 && install -d -o ipp -g ipp /var/lib/ipp-actions
USER 10001:10001
WORKDIR /var/lib/ipp
# two malloc arenas: with glibc's default the exporter's RSS grew 11 % in a 10-minute soak while Python's own
# memory stayed flat (fragmentation; benchmarks/reliability.py); with 2 it levels off at +3.5 %
ENV PYTHONUNBUFFERED=1 MALLOC_ARENA_MAX=2
EXPOSE 8475 8476
# The exporter's health page; the action-service container overrides this check (/healthz on 8476).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8475/-/healthy', timeout=4)"]
ENTRYPOINT ["ipp-exporter"]
CMD ["--config.file", "/etc/ipp-exporter/config.yml", "--web.listen-address", "0.0.0.0:8475"]
