// `npm run dev`: compiles in watch mode and runs the server, starting it once the first build is done
// and restarting it once after each later build without errors. (It was `tsc --watch & node
// --watch-path=dist/src`: tsc's first pass rewrote every file in dist/ a few seconds after node had
// started, so the server restarted at once; and a build touching ten files could restart it ten times.)
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const main = path.join(root, 'dist', 'src', 'main.js');
// The stamp scripts/build-if-stale.mjs compares with: `npm start` after `npm run dev` compiles nothing.
const stamp = path.join(root, 'dist', '.app-build-stamp');

/** The running server, or null. */
let server = null;
let restarting = false;
let stopping = false;

function say(text) {
  process.stdout.write(`[dev] ${text}\n`);
}

function startServer() {
  const child = spawn(process.execPath, ['--enable-source-maps', main], { stdio: 'inherit' });
  server = child;
  child.on('exit', (code, signal) => {
    if (server === child) server = null;
    if (stopping) process.exit(code ?? 0);
    if (!restarting) say(`the server exited (${signal ?? `code ${code}`}); it starts again after the next change`);
  });
}

/** Stops the server gracefully (it drains and stops PostgreSQL), then starts the new build. */
async function restartServer() {
  if (stopping || restarting) return; // a restart under way starts the newest build anyway
  if (!server) return startServer();
  restarting = true;
  const old = server;
  const exited = new Promise((resolve) => old.once('exit', resolve));
  old.kill('SIGTERM');
  await exited;
  restarting = false;
  if (!stopping) startServer();
}

const formatHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => root,
  getNewLine: () => '\n',
};

const host = ts.createWatchCompilerHost(
  path.join(root, 'tsconfig.build.json'),
  {},
  ts.sys,
  ts.createEmitAndSemanticDiagnosticsBuilderProgram,
  (diagnostic) => process.stdout.write(ts.formatDiagnosticsWithColorAndContext([diagnostic], formatHost)),
  (diagnostic, _newLine, _options, errorCount) => {
    say(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    // Only the summary that ends a build carries an error count.
    if (errorCount === undefined) return;
    if (errorCount > 0) {
      say(server ? 'the server keeps running the last good build' : 'the server starts once it builds');
      return;
    }
    writeFileSync(stamp, new Date().toISOString());
    void restartServer();
  },
);
const watch = ts.createWatchProgram(host);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    watch.close();
    // Ctrl-C reaches the server too (same process group); a repeated signal is ignored by it.
    if (server) server.kill(signal);
    else process.exit(0);
  });
}
