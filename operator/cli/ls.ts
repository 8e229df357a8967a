// `gochive ls`: the bundles of a bucket/prefix (or file:// directory) with what their manifests say.
import { parseCommandArgs, sourceFromFlags, SOURCE_HELP, UsageError } from '../restore/args.js';
import { cliLogger, nothingFound, openSource, runCommand } from '../restore/cli-common.js';
import { listBundles, printBundleTable } from '../restore/list.js';

const USAGE = `Usage: gochive ls --bucket URI [flags]

Lists bundles: key, database.collection, documents, archive-field range, size. Reads only the
manifests (a small range request per bundle), never whole bundles.

  -o, --output table|json   table on a terminal (default), json for scripts

Exit codes: 0 bundles listed, 1 error, 2 usage error, 3 no bundle matched the bucket/prefix and filters.

${SOURCE_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  return runCommand('ls', USAGE, argv, async () => {
    const { values } = parseCommandArgs(argv, { output: { type: 'string', short: 'o' } }, 'ls');
    const output = values.output ?? 'table';
    if (output !== 'table' && output !== 'json')
      throw new UsageError(`--output ${JSON.stringify(output)}: use table or json`);
    const sel = sourceFromFlags(values);
    const dest = openSource(sel, cliLogger());
    try {
      const rows = await listBundles(dest, sel);
      if (output === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length > 0) process.stdout.write(printBundleTable(rows));
      if (rows.length === 0) return nothingFound('ls', 'nothing to list', dest.description, sel);
      return 0;
    } finally {
      await dest.close();
    }
  });
}
