# Aethel Lattice node image (docs/DEPLOYMENT.md, "Containers").
#
#   docker build -t aethel-lattice .
#   docker run -d --name node1 -p 8000:8000 -p 9000:9000 \
#     -v aethel-node1:/data --env-file deploy/lattice/node1.env aethel-lattice
#
# Two stages: the build stage has the whole toolchain (scripts/install-deps.sh, the
# same list a developer machine uses); the runtime stage has only the shared
# libraries `aethel` links and the binary, and runs as an unprivileged user.

# ---- build ---------------------------------------------------------------------
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DAETHEL_BENCH=OFF \
 && ninja -C /build aethel \
 && strip /build/src/cli/aethel

# ---- runtime -------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Exactly what `ldd aethel` lists beyond libc: keep this list in step with it.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libsodium23 liblmdb0 libboost-json1.81.0 libfmt9 libz3-4 libprometheus-cpp-core1.0 libssl3 libjemalloc2 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /data --shell /usr/sbin/nologin aethel \
 && mkdir -p /data /data/logs \
 && chown -R aethel:aethel /data
COPY --from=build /build/src/cli/aethel /usr/local/bin/aethel

# Defaults for a container: everything under the one volume; override any of them
# with -e or --env-file (docs/CONFIGURATION.md).
ENV AETHEL_API_HOST=0.0.0.0 \
    AETHEL_API_PORT=8000 \
    AETHEL_P2P_LISTEN=/ip4/0.0.0.0/tcp/9000 \
    AETHEL_DATA_DIR=/data \
    AETHEL_LOG_DIR=/data/logs
USER aethel
WORKDIR /data
VOLUME /data
EXPOSE 8000 9000
# SIGTERM (docker stop) drains in-flight requests and exits 0 within 5 s.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD curl -fsS http://127.0.0.1:8000/health || exit 1
ENTRYPOINT ["/usr/local/bin/aethel"]
CMD ["node"]
