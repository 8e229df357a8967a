# syntax=docker/dockerfile:1
# gochive operator image: `docker buildx build --platform linux/amd64,linux/arm64 .` (see `make image`).
# Three stages: compile TypeScript with dev dependencies, install production dependencies alone, then
# a runtime stage holding only dist/, node_modules (production) and package.json, running as a
# non-root user on a read-only root filesystem (it writes only to the spool dir and /tmp).

# The current Node.js LTS line (24, "Krypton"), pinned by the digest of its multi-arch index so a
# rebuild gets the same bytes; CI runs the suites under this same release (.ci/run, NODE_VERSION).
# To upgrade: change the version here and in .ci/run (with its sha512s) together.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6

# ---- build: compile operator/ to dist/ ---------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs only tsc; no dependency's install script has to run.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY operator ./operator
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG GOCHIVE_UID=65532
# A fixed, unprivileged uid/gid that matches the chart's securityContext (runAsUser: 65532).
# npm and corepack are not needed to run the operator; removing them shrinks what can be exploited.
RUN groupadd --system --gid "${GOCHIVE_UID}" gochive \
 && useradd --system --uid "${GOCHIVE_UID}" --gid gochive --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin gochive \
 && mkdir -p /var/spool/gochive \
 && chown "${GOCHIVE_UID}:${GOCHIVE_UID}" /var/spool/gochive \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
ENV NODE_ENV=production \
    GOCHIVE_SPOOL_DIR=/var/spool/gochive
WORKDIR /app
# package.json carries "type": "module", which dist/ (ESM) needs to load.
COPY --chown=root:root package.json ./
COPY --chown=root:root --from=deps /app/node_modules ./node_modules
COPY --chown=root:root --from=build /src/dist/operator ./dist/operator
COPY --chown=root:root crds ./crds
USER ${GOCHIVE_UID}:${GOCHIVE_UID}
VOLUME ["/var/spool/gochive"]
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/operator/cli/main.js"]
CMD ["operator"]
