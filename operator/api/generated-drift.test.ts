// The CRD and the chart's values.schema.json are generated from operator/api/schema.ts and checked in.
// This fails when someone edits the schema without running `npm run generate` (or edits the output).
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { generatedFiles, repoRootFrom } from './generate.js';

const root = repoRootFrom(import.meta.url);

describe('generated files are current', () => {
  it.each(Object.entries(generatedFiles()))(
    '%s matches the generator (run `npm run generate`)',
    (rel, expected) => {
      const file = path.join(root, rel);
      expect(existsSync(file)).toBe(true);
      const actual = readFileSync(file, 'utf8');
      if (actual !== expected) {
        const a = actual.split('\n');
        const e = expected.split('\n');
        const i = a.findIndex((line, n) => line !== e[n]);
        throw new Error(
          `${rel} is out of date at line ${i + 1}:\n  checked in: ${a[i] ?? '<end of file>'}\n  generated:  ${e[i] ?? '<end of file>'}\nRun \`npm run generate\` and commit the result.`,
        );
      }
    },
  );
});
