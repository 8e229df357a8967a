// The optional `filter` of a policy is an extra MongoDB query ANDed with the age condition. Operators
// that run server-side JavaScript are refused: they are slow, often disabled on managed clusters, and a
// policy that deletes documents must not execute arbitrary code.

export const FORBIDDEN_FILTER_OPERATORS = ['$where', '$function', '$accumulator'] as const;

/** Deepest nesting a filter may have (keeps validation and CEL-free checks bounded). */
export const FILTER_MAX_DEPTH = 32;

/** Paths (like `$or[1].$where`) of every forbidden operator anywhere in `filter`, including inside `$expr`. */
export function forbiddenFilterOperators(filter: unknown): string[] {
  const found: string[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > FILTER_MAX_DEPTH) {
      found.push(`${path || '(root)'} (nested deeper than ${FILTER_MAX_DEPTH} levels)`);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${path}[${i}]`, depth + 1));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        const p = path ? `${path}.${k}` : k;
        if ((FORBIDDEN_FILTER_OPERATORS as readonly string[]).includes(k)) found.push(p);
        walk(child, p, depth + 1);
      }
    }
  };
  walk(filter, '', 0);
  return found;
}
