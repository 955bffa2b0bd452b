# TeamPulse worker image (used by docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY . /app
RUN pip install . \
 && useradd --system --uid 10001 --create-home --home-dir /home/teampulse teampulse \
 && mkdir -p /data \
 && chown teampulse /data

# The configuration ships inside the package (TEAMPULSE_CONFIG_DIR overrides it).
# Bind the worker's web server (/metrics, /teams) on all interfaces so Prometheus
# can scrape it from its container.
ENV TEAMPULSE_DATA_DIR=/data \
    TEAMPULSE_WEB_HOST=0.0.0.0

USER teampulse
EXPOSE 6066
CMD ["teampulse", "worker"]
