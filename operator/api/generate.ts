// `npm run generate`: writes the CRD and the chart's values.schema.json from the zod schema.
// generated-drift.test.ts fails when the checked-in files differ from what this produces.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { archivePolicyCrdYaml, CRD_FILE } from './crd.js';
import { chartValuesJsonSchema } from './chart-values.js';

export const VALUES_SCHEMA_FILE = 'charts/gochive/values.schema.json';

/** Every generated file: repo-relative path -> content. */
export function generatedFiles(): Record<string, string> {
  return {
    [CRD_FILE]: archivePolicyCrdYaml(),
    [VALUES_SCHEMA_FILE]: `${JSON.stringify(chartValuesJsonSchema(), null, 2)}\n`,
  };
}

/** The repository root, whether running from operator/api (ts) or dist/operator/api (js). */
export function repoRootFrom(moduleUrl: string): string {
  const here = path.dirname(fileURLToPath(moduleUrl));
  const parts = here.split(path.sep);
  const i = parts.lastIndexOf('dist');
  return i >= 0 ? parts.slice(0, i).join(path.sep) || path.sep : path.resolve(here, '../..');
}

async function main(): Promise<void> {
  const root = repoRootFrom(import.meta.url);
  for (const [rel, content] of Object.entries(generatedFiles())) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    process.stdout.write(`wrote ${rel}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
