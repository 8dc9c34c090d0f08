# syntax=docker/dockerfile:1
# The Gatehouse operator image: `gatehouse run` by default, any other subcommand by argument.
#
# The TypeScript is compiled with tsc in a build stage rather than run through tsx: tsx (and
# esbuild under it) are devDependencies, and shipping them would ship all of them (TypeScript,
# vitest, testcontainers, the node binary package). tsc writes plain ESM JavaScript in the same
# folder layout as the sources, so files found relative to a module (profiles/default.yaml from
# src/model/profile.ts) are found in the image too; a single-file bundle would break those paths.
# The runtime stage then needs only the production dependencies.

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
# No install scripts: nothing the compiler needs builds natively, and the `node` devDependency's
# script would fetch a second Node.js. tsc therefore runs on the image's own node, not via npx.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json vitest.config.ts ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
RUN node node_modules/typescript/bin/tsc -p tsconfig.json --outDir dist \
 && cd src && find . -type f ! -name '*.ts' -exec cp --parents {} ../dist/src/ \;

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY profiles ./profiles
COPY --from=build /build/dist/src ./src
# A numeric non-root user (the distroless "nonroot" id), so runAsNonRoot can verify it.
USER 65532:65532
# 9443 admission webhook, 8080 metrics, 8081 health probes.
EXPOSE 9443 8080 8081
ENTRYPOINT ["node", "/app/src/cli/main.js"]
CMD ["run"]
