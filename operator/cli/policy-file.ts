// `gochive archive -f FILE`: the policies of a YAML file. Accepted shapes, in any number of YAML
// documents: ArchivePolicy manifests (`kind: ArchivePolicy`, or a `kind: List` of them), a values file
// with a `policies:` list (the original's and the chart's), a bare list of values entries, or a single
// values entry. Every entry goes through the API's validation (the same as the operator and chart,
// except that file:///dir destinations are allowed on the user's own machine).
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { formatSpecErrors, policyNameProblem, validateSpec, validateValuesEntry } from '../api/resolve.js';
import type { ArchivePolicySpec } from '../api/schema.js';
import { UsageError } from './flags.js';

export interface FilePolicy {
  name: string;
  namespace: string;
  spec: ArchivePolicySpec;
  /** Where it came from, for messages: `file.yaml: policies[2]`. */
  origin: string;
}

export interface PolicyFile {
  policies: FilePolicy[];
  /** `mongodb.uriTemplate` of a chart values file, if present. */
  uriTemplate?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export async function loadPolicyFile(file: string, defaultNamespace: string): Promise<PolicyFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `-f ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const out: PolicyFile = { policies: [] };
  const docs = parseAllDocuments(text);
  const problems: string[] = [];
  docs.forEach((d, di) => {
    if (d.errors.length) {
      problems.push(`${file}: YAML document ${di + 1}: ${d.errors[0]!.message}`);
      return;
    }
    const v: unknown = d.toJS();
    if (v === null || v === undefined) return;
    const where = docs.length > 1 ? `${file} (document ${di + 1})` : file;
    collect(v, where, defaultNamespace, out, problems);
  });
  if (problems.length) throw new UsageError(problems.join('\n'));
  if (!out.policies.length)
    throw new UsageError(
      `-f ${file}: no policies found (expected ArchivePolicy manifests, a policies: list, or values entries)`,
    );
  const seen = new Set<string>();
  for (const p of out.policies) {
    const id = `${p.namespace}/${p.name}`;
    if (seen.has(id)) throw new UsageError(`-f ${file}: policy ${id} appears twice; names must be unique`);
    seen.add(id);
  }
  return out;
}

function collect(v: unknown, where: string, ns: string, out: PolicyFile, problems: string[]): void {
  if (Array.isArray(v)) {
    v.forEach((e, i) => entry(e, `${where}: [${i}]`, ns, out, problems));
    return;
  }
  if (!isObj(v)) {
    problems.push(`${where}: expected a mapping or a list, got ${typeof v}`);
    return;
  }
  if (v.kind === 'List' && Array.isArray(v.items)) {
    v.items.forEach((e, i) => manifest(e, `${where}: items[${i}]`, ns, out, problems));
    return;
  }
  if (v.kind === 'ArchivePolicy') {
    manifest(v, where, ns, out, problems);
    return;
  }
  if ('policies' in v) {
    const mongodb = v.mongodb;
    if (isObj(mongodb) && typeof mongodb.uriTemplate === 'string' && mongodb.uriTemplate)
      out.uriTemplate = mongodb.uriTemplate;
    if (!Array.isArray(v.policies)) {
      problems.push(`${where}: policies must be a list of entries`);
      return;
    }
    v.policies.forEach((e, i) => entry(e, `${where}: policies[${i}]`, ns, out, problems));
    return;
  }
  entry(v, where, ns, out, problems);
}

function entry(e: unknown, where: string, ns: string, out: PolicyFile, problems: string[]): void {
  const r = validateValuesEntry(e, { target: 'local' });
  if (!r.ok) {
    problems.push(formatSpecErrors(r.errors, `${where}: invalid policy entry`));
    return;
  }
  out.policies.push({ name: r.name, namespace: ns, spec: r.spec, origin: where });
}

function manifest(m: unknown, where: string, ns: string, out: PolicyFile, problems: string[]): void {
  if (!isObj(m) || m.kind !== 'ArchivePolicy') {
    problems.push(`${where}: expected kind: ArchivePolicy`);
    return;
  }
  const meta = isObj(m.metadata) ? m.metadata : {};
  const name = meta.name;
  const nameProblem = policyNameProblem(name);
  const r = validateSpec(m.spec, 'spec', { target: 'local' });
  const errors = [
    ...(nameProblem ? [{ path: 'metadata.name', message: `metadata.${nameProblem}` }] : []),
    ...(r.ok ? [] : r.errors),
  ];
  if (errors.length || !r.ok) {
    problems.push(formatSpecErrors(errors, `${where}: invalid ArchivePolicy`));
    return;
  }
  const namespace = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : ns;
  out.policies.push({ name: name as string, namespace, spec: r.spec, origin: where });
}
