# varsel as a container image: `docker build -t varsel .` (deploy/compose.yaml builds it too).
# Two stages: the build stage has the compilers (native addons, the wasm kernel, tsc); the runtime
# stage has Node, the production dependencies, dist/ and the kernel, and runs as the `node` user.
# Both stages are Debian 12 (glibc 2.36) with the same Node, so the addons built in the first load
# in the second. NODE_VERSION: any Node >= 20 (the default transport, node:http + ws, needs no
# native binary; see README, Choices).
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
# Dependencies first, so this layer is reused while only sources change. Their install scripts
# (better-sqlite3's binary) run in `npm rebuild`; --ignore-scripts keeps npm ci from running the
# package's own `prepare` (the build) before the sources are here.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/varsel.wasm ./build/varsel.wasm
# The clinician's board (GET /), bundled by `npm run build`.
COPY --from=build /app/build/board ./build/board
# The working folder is the state folder: with no VARSEL_DATABASE_URL the embedded SQLite store is
# /data/.varsel/varsel.db. The code under /app stays owned by root, read-only to the server.
RUN mkdir /data && chown node:node /data
VOLUME /data
WORKDIR /data
USER node
EXPOSE 8080
# Ready means serving and the store taking commits (GET /readyz is 503 while it is unavailable).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 8080}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and handles SIGTERM itself (`docker stop`): it stops accepting, flushes, snapshots
# and closes every socket with a reason.
CMD ["node", "/app/dist/server/main.js", "serve"]
