# weft's watch daemon as an image: Node 20, iproute2, nftables, git (for --git sources) and
# util-linux (nsenter, setpriv). See docs/daemon.md "Running the daemon in a container" for the docker run line.
#   docker build -t weft .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-validators.mjs ./scripts/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 nftables git util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/weft
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN ln -s /opt/weft/dist/cli/main.js /usr/local/bin/weft
# Locks, the git source's clone and small records live here: mount it to keep them.
VOLUME ["/var/lib/weft"]
ENTRYPOINT ["weft"]
CMD ["watch", "-f", "/etc/weft/manifests"]
