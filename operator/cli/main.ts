#!/usr/bin/env node
// `gochive <command>`: one executable. Each command lives in its own module, loaded on demand so
// `gochive archive` does not pay for the Kubernetes client and `gochive operator` not for the CLI UI.
import { GOCHIVE_VERSION } from '../version.js';

type CommandModule = { run(argv: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  operator: { summary: 'run the Kubernetes controller', load: () => import('./operator.js') },
  archive: { summary: 'archive one or more policies without Kubernetes', load: () => import('./archive.js') },
  restore: { summary: 'bring archived documents back into MongoDB', load: () => import('./restore.js') },
  ls: { summary: 'list bundles', load: () => import('./ls.js') },
  verify: { summary: 'check checksums and counts of bundles', load: () => import('./verify.js') },
  cat: { summary: 'print archived documents as Extended JSON lines', load: () => import('./cat.js') },
  prune: {
    summary: 'remove bundles whose newest document is older than a duration',
    load: () => import('./prune.js'),
  },
  crd: { summary: 'print the ArchivePolicy CustomResourceDefinition', load: () => import('./crd.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(9)} ${c.summary}`);
  return `gochive ${GOCHIVE_VERSION}\n\nUsage: gochive <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'gochive <command> --help' for a command's flags.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${GOCHIVE_VERSION}\n`);
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`gochive: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await cmd.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Commands report their own errors; this is the last resort, still redacted.
    void import('../util/redact.js').then(({ errorMessage }) => {
      process.stderr.write(`gochive: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    });
  },
);
