// Turns the zod schema's JSON Schema (z.toJSONSchema) into the two dialects gochive ships:
//  - the Kubernetes structural OpenAPI v3 subset for the CRD (no $schema/$ref/anyOf-of-types, int-or-string
//    as x-kubernetes-int-or-string, free-form objects as x-kubernetes-preserve-unknown-fields);
//  - plain draft-07 for the chart's values.schema.json (no x-kubernetes-* keys).
// Schema metadata may carry `x-gochive-jsonschema`: extra draft-07 keywords (if/then, oneOf…) for rules
// that JSON Schema can express but the CRD expresses with CEL instead.
// A `.regex(re, { error: 'plain words' })` check keeps its words in both dialects: the CRD checks the
// pattern with a CEL rule carrying that message (kube-apiserver prints an OpenAPI pattern failure as the
// bare regex), the chart schema keeps the pattern and adds `patternErrorMessage` (read by editors).
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

/** Intermediate keyword: the plain message of the zod regex check behind a node's `pattern`. */
export const PATTERN_MESSAGE = 'x-gochive-pattern-message';

/** The input-side JSON Schema of a zod schema (defaults optional, as a user writes it). */
export function zodToJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-7',
    unrepresentable: 'throw',
    override: ({ zodSchema, jsonSchema }) => {
      const message = regexMessage(zodSchema);
      if (message !== undefined && typeof jsonSchema.pattern === 'string')
        (jsonSchema as JsonSchema)[PATTERN_MESSAGE] = message;
    },
  }) as JsonSchema;
}

/** The constant message of a string schema's single regex check (`{ error: '…' }`), if it has one. */
function regexMessage(schema: unknown): string | undefined {
  type Check = { _zod?: { def?: { format?: string; pattern?: RegExp; error?: (iss: unknown) => unknown } } };
  const checks = (schema as { _zod?: { def?: { checks?: Check[] } } })._zod?.def?.checks ?? [];
  const regexes = checks.map((c) => c._zod?.def).filter((d) => d?.format === 'regex');
  if (regexes.length !== 1) return undefined;
  const d = regexes[0]!;
  const message = d.error?.({ code: 'invalid_format', format: 'regex', pattern: d.pattern, input: '' });
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/** The CEL equivalent of an OpenAPI `pattern` (both are RE2 in kube-apiserver), with a plain message. */
function celPatternRule(pattern: string, message: string, intOrString: boolean): JsonSchema {
  if (pattern.includes("'")) throw new Error(`pattern ${pattern} cannot be embedded in a CEL raw string`);
  const guard = intOrString ? 'type(self) == int || ' : '';
  return { rule: `${guard}self.matches(r'${pattern}')`, message, reason: 'FieldValueInvalid' };
}

/** Keys of apiextensions.k8s.io/v1 JSONSchemaProps that gochive uses; anything else is a generator bug. */
const K8S_KEYS = new Set([
  'type',
  'format',
  'description',
  'default',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'uniqueItems',
  'required',
  'properties',
  'items',
  'additionalProperties',
  'nullable',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

const SAFE_INT = Number.MAX_SAFE_INTEGER;

function isObj(v: unknown): v is JsonSchema {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Folds `anyOf: [{type: integer, …}, {type: string, …}]` into one node's value validations. */
function foldIntOrString(node: JsonSchema): JsonSchema {
  const { anyOf, ...rest } = node;
  if (!Array.isArray(anyOf)) return node;
  const types = anyOf.map((a: JsonSchema) => a.type).sort();
  if (anyOf.length !== 2 || types[0] !== 'integer' || types[1] !== 'string') {
    throw new Error(
      `anyOf other than integer|string cannot be expressed in a structural schema: ${JSON.stringify(node)}`,
    );
  }
  const out: JsonSchema = { ...rest };
  for (const alt of anyOf as JsonSchema[]) {
    for (const [k, v] of Object.entries(alt)) if (k !== 'type') out[k] = v;
  }
  out['x-kubernetes-int-or-string'] = true;
  return out;
}

/** Structural-schema node for the CRD. */
export function toKubernetesSchema(node: JsonSchema, path = '$'): JsonSchema {
  let n: JsonSchema = { ...node };
  delete n.$schema;
  delete n['x-gochive-jsonschema'];
  if (n.anyOf) n = foldIntOrString(n);
  const patternMessage = n[PATTERN_MESSAGE];
  delete n[PATTERN_MESSAGE];
  if (n['x-gochive-cel-replaces-pattern']) {
    // The CEL rules beside it check the pattern with a readable message (see schema.ts).
    if (!Array.isArray(n['x-kubernetes-validations']))
      throw new Error(`${path}: pattern replaced by CEL but no CEL rules`);
    delete n.pattern;
    delete n['x-gochive-cel-replaces-pattern'];
  } else if (typeof n.pattern === 'string' && typeof patternMessage === 'string') {
    // The same check as a CEL rule, first among the node's rules, so the API server says it in words.
    const rule = celPatternRule(n.pattern, patternMessage, n['x-kubernetes-int-or-string'] === true);
    const others = Array.isArray(n['x-kubernetes-validations']) ? n['x-kubernetes-validations'] : [];
    n['x-kubernetes-validations'] = [rule, ...others];
    delete n.pattern;
  }
  if (n['x-kubernetes-preserve-unknown-fields']) {
    // Free-form: keep only what describes the node itself; its contents are not schema-checked.
    delete n.additionalProperties;
    delete n.propertyNames;
  }
  if (n.additionalProperties === false) delete n.additionalProperties; // pruning + strict field validation do this
  if (n.maximum === SAFE_INT) delete n.maximum;
  if (n.minimum === -SAFE_INT) delete n.minimum;
  if (n.format === 'date-time') delete n.pattern; // the API server checks the format itself
  if (isObj(n.properties)) {
    n.properties = Object.fromEntries(
      Object.entries(n.properties).map(([k, v]) => [k, toKubernetesSchema(v as JsonSchema, `${path}.${k}`)]),
    );
  }
  if (isObj(n.items)) n.items = toKubernetesSchema(n.items, `${path}[]`);
  if (isObj(n.additionalProperties))
    n.additionalProperties = toKubernetesSchema(n.additionalProperties, `${path}{}`);
  for (const k of Object.keys(n)) {
    if (!K8S_KEYS.has(k))
      throw new Error(`${path}: keyword ${k} is not allowed in a CRD schema (${JSON.stringify(n[k])})`);
  }
  return n;
}

/** Draft-07 node for the chart's values.schema.json. */
export function toDraft7Schema(node: JsonSchema): JsonSchema {
  const n: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === '$schema') continue;
    // helm's validator ignores it (and prints the pattern); editors (VS Code, yaml-language-server) show it.
    if (k === PATTERN_MESSAGE && typeof node.pattern === 'string') n.patternErrorMessage = v;
    if (k.startsWith('x-gochive-')) continue;
    if (k === 'format' && v !== 'date-time') continue; // int64 etc. are OpenAPI formats, not draft-07
    n[k] = v;
  }
  // A Kubernetes list-type set refuses duplicates; draft-07 says the same with uniqueItems (which a CRD
  // schema may not use, hence the list-type as the single source).
  if (node['x-kubernetes-list-type'] === 'set') n.uniqueItems = true;
  if (n.maximum === SAFE_INT) delete n.maximum;
  if (n.minimum === -SAFE_INT) delete n.minimum;
  if (isObj(n.properties)) {
    n.properties = Object.fromEntries(
      Object.entries(n.properties).map(([k, v]) => [k, toDraft7Schema(v as JsonSchema)]),
    );
  }
  if (isObj(n.items)) n.items = toDraft7Schema(n.items);
  if (isObj(n.additionalProperties)) n.additionalProperties = toDraft7Schema(n.additionalProperties);
  if (Array.isArray(n.anyOf)) n.anyOf = n.anyOf.map((a: JsonSchema) => toDraft7Schema(a));
  const extra = node['x-gochive-jsonschema'];
  if (isObj(extra)) Object.assign(n, extra);
  return n;
}
