// testenv CLI: `node dist/test/env/cli.js up|down|status|build` (make testenv-up/down/status).
// `acquire`/`release --pid N` are for jest's global setup/teardown.
import { ensureAllTools, ensureTool } from './builder.js';
import { tools, type ToolName } from './tools.js';
import { acquire, down, release, status, up } from './lifecycle.js';

const usage = 'usage: testenv up | down | status | build [tool...] | acquire --pid N | release --pid N';

function pidArg(argv: string[]): number {
  const i = argv.indexOf('--pid');
  const pid = i >= 0 ? Number.parseInt(argv[i + 1] ?? '', 10) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`--pid <jest process id> is required\n${usage}`);
  return pid;
}

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case 'up':
      await up();
      return 0;
    case 'down':
      await down();
      return 0;
    case 'status':
      return status();
    case 'build': {
      // `build` builds everything; `build versitygw helm` only those tools.
      const names = argv.slice(1);
      const unknown = names.filter((n) => !(n in tools));
      if (unknown.length > 0)
        throw new Error(`unknown tool ${unknown.join(', ')}; known: ${Object.keys(tools).join(', ')}`);
      if (names.length === 0) await ensureAllTools();
      for (const n of names) await ensureTool(tools[n as ToolName]);
      return 0;
    }
    case 'acquire':
      await acquire(pidArg(argv));
      return 0;
    case 'release':
      await release(pidArg(argv));
      return 0;
    default:
      process.stderr.write(usage + '\n');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`testenv: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
