// `gochive crd`: prints the ArchivePolicy CustomResourceDefinition generated from the zod schema, so
// `gochive crd | kubectl apply -f -` installs exactly the schema this binary validates with.
import { archivePolicyCrd, archivePolicyCrdYaml } from '../api/crd.js';

const USAGE = `Usage: gochive crd [-o yaml|json]

Prints the ArchivePolicy CustomResourceDefinition (gochive.io/v1alpha1).
Install it with: gochive crd | kubectl apply --server-side -f -
`;

export async function run(argv: string[]): Promise<number> {
  let output = 'yaml';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help' || a === '-help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a === '-o' || a === '--output' || a === '-output') {
      output = argv[++i] ?? '';
    } else if (a.startsWith('-o=') || a.startsWith('--output=')) {
      output = a.slice(a.indexOf('=') + 1);
    } else {
      process.stderr.write(`gochive crd: unexpected argument '${a}'\n\n${USAGE}`);
      return 2;
    }
  }
  if (output === 'yaml') process.stdout.write(archivePolicyCrdYaml());
  else if (output === 'json') process.stdout.write(`${JSON.stringify(archivePolicyCrd(), null, 2)}\n`);
  else {
    process.stderr.write(`gochive crd: -o must be yaml or json, got '${output}'\n`);
    return 2;
  }
  return 0;
}
