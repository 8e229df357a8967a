// Command-line flags parsed the way Go's `flag` package does, so the original tool's command lines work
// verbatim: `-name value`, `-name=value`, `--name value`, `--name=value`; boolean flags take no value
// (`-once`, or `-once=false`); parsing stops at `--` or the first non-flag argument. Aliases let a flag
// have a short and a long spelling (`-f` / `--file`).

export type FlagKind = 'string' | 'int' | 'bool' | 'list';

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  help: string;
  aliases?: string[];
  /** Value placeholder in help, e.g. DURATION. */
  metavar?: string;
  /** Never echo the value (passwords). */
  secret?: boolean;
  /** Help group heading. */
  group?: string;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Parsed {
  values: FlagValues;
  /** Flags present on the command line (canonical names). */
  given: Set<string>;
  rest: string[];
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export function parseFlags(argv: string[], specs: FlagSpec[]): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) for (const n of [s.name, ...(s.aliases ?? [])]) byName.set(n, s);
  const values: FlagValues = {};
  const given = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (!body || body.startsWith('-') || body.startsWith('='))
      throw new UsageError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`flag provided but not defined: -${name}`);
    let raw: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (spec.kind === 'bool') {
      if (raw === undefined) values[spec.name] = true;
      else if (TRUE.has(raw)) values[spec.name] = true;
      else if (FALSE.has(raw)) values[spec.name] = false;
      else
        throw new UsageError(`invalid boolean value "${raw}" for -${name}: use -${name} or -${name}=false`);
      given.add(spec.name);
      continue;
    }
    if (raw === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      raw = argv[++i]!;
    }
    switch (spec.kind) {
      case 'int': {
        if (!/^[+-]?\d+$/.test(raw.trim())) {
          throw new UsageError(
            `invalid value ${spec.secret ? '(hidden)' : JSON.stringify(raw)} for flag -${name}: must be a whole number`,
          );
        }
        values[spec.name] = Number.parseInt(raw, 10);
        break;
      }
      case 'list': {
        const prev = (values[spec.name] as string[] | undefined) ?? [];
        values[spec.name] = [...prev, raw];
        break;
      }
      default:
        values[spec.name] = raw;
    }
    given.add(spec.name);
  }
  return { values, given, rest: argv.slice(i) };
}

/** Help text: one line per flag, grouped, in the order given. */
export function flagHelp(specs: FlagSpec[]): string {
  const lines: string[] = [];
  let group: string | undefined;
  for (const s of specs) {
    if (s.group && s.group !== group) {
      group = s.group;
      lines.push('', `${group}:`);
    }
    const names = [s.name, ...(s.aliases ?? [])].map((n) => `-${n}`).join(', ');
    const meta = s.kind === 'bool' ? '' : ` ${s.metavar ?? (s.kind === 'int' ? 'N' : 'VALUE')}`;
    lines.push(`  ${names}${meta}`);
    lines.push(`        ${s.help}`);
  }
  return lines.join('\n');
}
