#!/usr/bin/env -S node --max-semi-space-size=4
/** The `arc` command: one entry point for the server and its tools. */
import fs from 'node:fs';
import { renderDefaultToml } from '../config/toml-template.js';
import { bench } from './bench/bench-command.js';
import { importCommand } from './import-command.js';
import { backupCommand, restoreCommand } from './backup-command.js';
import { compact } from './compact-command.js';
import { cq } from './cq-command.js';
import { retention } from './retention-command.js';
import { profile } from './profile/profile-command.js';
import { stats } from './stats-command.js';
import { joinTokenValues } from './token-argument.js';
import { token } from './token-command.js';
import { serve, UsageError } from './serve.js';

const HELP = `arc-ts — Arc-compatible time-series database

usage: arc <command> [options]

commands:
  serve [--config FILE]   run the server (config: arc.toml, then ARC_* environment variables)
  bench [options]         load a running server and report records/s, latency, CPU (arc bench --help)
  profile [seconds]       CPU profile of the running server: flamegraph, stage table (arc profile --help)
  stats [--watch]         the server's stage timings and counters as a table (arc stats --help)
  compact [--tier T]      compact every closed hour/day of the running server now, with progress (arc compact --help)
  cq list                 list the continuous queries of the running server (arc cq --help)
  retention list          list the retention policies of the running server (arc retention --help)
  token create|list|revoke|rotate   manage API tokens (arc token --help)
  backup [list|show|delete|status]   back up the running server (arc backup --help)
  restore ID --confirm    restore a backup, server stopped
  import FILE [options]   bulk-import a CSV, Parquet or line protocol file (arc import --help)
  config                  print a documented arc.toml with every key and its default
  version                 print the version
  help                    this text
`;

function version(): string {
  const manifest = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...args] = joinTokenValues(argv);
  switch (command) {
    case 'serve':
      await serve(args, version());
      return;
    case 'bench':
      process.exitCode = await bench(args, version());
      return;
    case 'profile':
      process.exitCode = await profile(args);
      return;
    case 'stats':
      process.exitCode = await stats(args);
      return;
    case 'compact':
      process.exitCode = await compact(args);
      return;
    case 'cq':
      process.exitCode = await cq(args);
      return;
    case 'retention':
      process.exitCode = await retention(args);
      return;
    case 'token':
      process.exitCode = await token(args);
      return;
    case 'backup':
      process.exitCode = await backupCommand(args);
      return;
    case 'restore':
      process.exitCode = await restoreCommand(args);
      return;
    case 'import':
      process.exitCode = await importCommand(args);
      return;
    case 'config':
      process.stdout.write(renderDefaultToml());
      return;
    case 'version':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return;
    default:
      throw new UsageError(`arc: unknown command '${command}'\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`arc: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
