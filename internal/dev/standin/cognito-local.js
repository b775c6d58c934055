// Starts cognito-local as its own lib/bin/start.js does, with one change:
// its log lines go through process.stdout. start.js hands pino-pretty no
// destination, so pino-pretty writes through sonic-boom 2 in async mode,
// which counts what it is given in characters and what it wrote in bytes:
// every sign-up code box (drawn with three-byte characters) leaves it
// further behind, until a line is held back until more output arrives.
// Under make dev that was a sign-up code shown only at the next sign-up.
//
// Run as: node -e "$(cat cognito-local.js)" <cognito-local's package dir>
"use strict";
const path = require("node:path");
const dir = process.argv[1];
const load = (m) => require(require.resolve(m, { paths: [dir] }));
const pino = load("pino");
const pretty = load("pino-pretty");
const { createDefaultServer } = require(path.join(dir, "lib", "server"));

const logger = pino(
  { level: process.env.DEBUG ? "debug" : "info" },
  pretty({
    colorize: false,
    ignore: "pid,name,hostname",
    singleLine: true,
    messageFormat: (log, key) => `${log.reqId ?? "NONE"} ${log.target ?? "NONE"} ${log[key]}`,
    destination: process.stdout,
  }),
);

createDefaultServer(logger)
  .then((server) => server.start())
  .then((server) => {
    const a = server.address();
    logger.info(`Cognito Local running on http://${typeof a === "string" ? a : `${a.address}:${a.port}`}`);
  })
  .catch((err) => {
    logger.error(err);
    process.exit(1);
  });
