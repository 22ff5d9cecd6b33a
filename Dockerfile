# syntax=docker/dockerfile:1
# One image for every role: compose builds it once (for the api service) and the worker service
# runs the same image. The build stage compiles TypeScript; the runtime stage has only dist/ and
# the production dependencies (no tsx, esbuild, TypeScript or dev inbox).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change, not on every edit.
COPY package.json package-lock.json ./
# --ignore-scripts: the "prepare" build needs the sources, copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# Inside a container the API must listen beyond loopback to be reachable through a port mapping,
# and a worker serves /metrics and /healthz on METRICS_PORT for scrapers and the HEALTHCHECK.
ENV HOST=0.0.0.0
ENV METRICS_PORT=9464
WORKDIR /app
# Everything stays owned by root, so the app user cannot rewrite its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
USER node
EXPOSE 3000 9464

# PORT for the API, METRICS_PORT for a worker (workers/healthcheck.ts).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/workers/healthcheck.js"]

# The worker by default; compose runs dist/workers/api.js for the API. node itself is the
# process (exec form, no npm or shell in between), so `docker stop`'s SIGTERM reaches it and
# in-flight emails are finished before exit.
CMD ["node", "dist/workers/email-worker.js"]
