# syntax=docker/dockerfile:1
#
# One image for every Herald role. The role is the command, exactly as in the
# Procfile:  node dist/src/api/server.js | node dist/workers/ingest.js | ...
# docker-compose.yml runs each role from this image.

# --- build: compile TypeScript to dist/ -------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY queues ./queues
COPY workers ./workers
COPY migrations ./migrations
COPY scripts ./scripts
RUN npx tsc -p tsconfig.build.json

# --- runtime: production dependencies and the compiled code only ------------
# Debian bookworm (glibc 2.36) and Node 20: the native uWebSockets.js build
# Herald uses loads here (see STACK.md); newer Node ABIs do not have it.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8000 \
    WS_PORT=8001
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY Procfile ./
# bull-board serves its UI from node_modules relative to the working directory (/app).
USER node
EXPOSE 8000 8001
# No image-wide HEALTHCHECK: workers have no HTTP port. docker-compose.yml
# checks the api's and the realtime node's GET /ready.
CMD ["node", "dist/src/api/server.js"]
