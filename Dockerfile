# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim

ENV NODE_ENV=production
# Inside a container the API must listen beyond loopback to be reachable through a port mapping.
ENV HOST=0.0.0.0
WORKDIR /app

# Manifests first: the dependency layer is rebuilt only when they change, not on every edit.
# tsx is a runtime dependency (the TypeScript sources run as-is), so --omit=dev is enough.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# Sources stay owned by root, so the app user cannot rewrite its own code.
COPY . .

USER node
EXPOSE 3000

# Same image for both roles (compose runs workers/api.ts for the API). node runs as PID 1's
# direct child with no npm or shell in between, so `docker stop`'s SIGTERM reaches it and
# in-flight emails are finished before exit.
CMD ["node", "--import", "tsx", "workers/email-worker.ts"]
