# syntax=docker/dockerfile:1
# The Gatehouse operator image: `gatehouse run` by default, any other subcommand by argument.
#
# The image runs what `npm run build` writes (scripts/build.mjs): tsc's dist/ and the bundled CLI
# in dist/bundle/, started by bin/gatehouse.js in the container's only process (PID 1 gets
# SIGTERM directly). tsx, esbuild and TypeScript are devDependencies and stay in the build stage.
# dist/bundle/ sits two folders below /app, so profiles/default.yaml is found relative to it.
#
# NODE_IMAGE: any Node.js 24 image with npm; CI builds on a locally made stand-in
# (scripts/container-image.sh) because it cannot pull node:24-slim.

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
# No install scripts: nothing the build needs compiles natively, and the `node` devDependency's
# script would fetch a second Node.js. The build therefore runs on the image's own node.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
RUN node scripts/build.mjs

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY package.json LICENSE ./
COPY bin ./bin
COPY profiles ./profiles
COPY --from=build /build/dist ./dist
# A numeric non-root user (the distroless "nonroot" id), so runAsNonRoot can verify it.
USER 65532:65532
# 9443 admission webhook, 8080 metrics, 8081 health probes.
EXPOSE 9443 8080 8081
ENTRYPOINT ["node", "/app/bin/gatehouse.js"]
CMD ["run"]
