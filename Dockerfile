# newsmon image: one image for the worker, the exporter and the producers (docker-compose.yml picks
# the command). Non-root; the code is installed into site-packages, Faust's data dir is the workdir.
# The matcher's C extension (streams/matching/_scan.c) is compiled in a build stage; the image keeps no compiler.
FROM python:3.11-slim AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies are pinned in pyproject.toml; copy only what the package build needs.
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY producers ./producers
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSMON_WATCHLIST=/etc/newsmon/watchlist.yaml

RUN groupadd --system --gid 10001 newsmon \
    && useradd --system --uid 10001 --gid newsmon --home-dir /var/lib/newsmon --create-home \
       --shell /usr/sbin/nologin newsmon

COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

COPY ops/watchlist.yaml /etc/newsmon/watchlist.yaml

USER 10001:10001
WORKDIR /var/lib/newsmon
EXPOSE 6066 9108 9109 8088
CMD ["faust", "-A", "streams.app", "worker", "-l", "info", "--web-bind", "0.0.0.0"]
