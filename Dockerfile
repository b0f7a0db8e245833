# syntax=docker/dockerfile:1
# The service's image for docker-compose.yml; it also runs the firmware simulator of the demo
# profile (node dist/firmware-sim/cli.js).

# Build stage: the full Debian image has the compilers that better-sqlite3 falls back to when no
# prebuilt binary fits, so the runtime image needs none. Same Debian release as the runtime, so
# the native modules built here load there.
FROM node:24.22.3-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY firmware-sim ./firmware-sim
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24.22.3-bookworm-slim
ENV NODE_ENV=production DATA_DIR=/data HTTP_HOST=0.0.0.0 HTTP_PORT=8080
WORKDIR /app
# Owned by root and read-only to the service: it cannot rewrite its own code.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Read at run time from beside dist/: the pages' stylesheet and scripts (tsc copies no CSS or
# JavaScript), the example registry, and the simulator's scenarios.
COPY src/http/pages/assets ./src/http/pages/assets
COPY config ./config
COPY firmware-sim/scenarios ./firmware-sim/scenarios
# The journal, dead letters, alerts and outbox live in /data. A new named volume takes this
# directory's owner, so the unprivileged user can write there.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
# Node, not curl: the slim image has none. /readyz: healthy when the broker, the store and the
# journal are usable (CONTRACT.md section 6).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/readyz',{signal:AbortSignal.timeout(4000)}).then((r)=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
# Node as PID 1 receives SIGTERM itself and flushes the journal before it exits.
CMD ["node", "dist/src/main.js"]
