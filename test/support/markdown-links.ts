// Reads Markdown the way GitHub renders it, as far as links go: the headings a page offers as
// #anchors (GitHub's slug rules) and the relative links it makes. Used by the docs link test; no
// Markdown library, because only these two things are needed.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface MarkdownLink {
  /** The target as written, e.g. `docs/restore.md#exit-codes`. */
  target: string;
  line: number;
}

/** Directories never searched for pages: dependencies, build output and gitignored run state. */
const SKIP_DIRS = new Set(['node_modules', 'dist', 'coverage', 'bench-results']);

/** Every Markdown file under `root` (relative paths, `/`-separated, sorted); dot-directories skipped. */
export function markdownFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.') && !SKIP_DIRS.has(entry.name)) out.push(...markdownFiles(root, rel));
    } else if (entry.isFile() && entry.name.endsWith('.md')) {
      out.push(rel);
    }
  }
  return out.sort();
}

/** The page's lines with fenced code blocks blanked (their `#` lines are not headings, their
 * brackets not links), so line numbers stay true. */
function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1]![0] === fence[0] && m[1]!.length >= fence.length && line.trim() === m[1])
        fence = undefined;
      return '';
    }
    if (m) {
      fence = m[1];
      return '';
    }
    return line;
  });
}

/** GitHub's heading slug: the heading's text, lower-cased, with everything but letters, digits,
 * `_`, `-` and spaces removed, and each space made a `-` (github-slugger's rule). */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, ''); // code spans and emphasis markers
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a page offers: one per heading (repeats get -1, -2, … as on GitHub) plus explicit
 * `id`/`name` attributes of inline HTML. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(text)) {
    const h = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (h) {
      const base = githubSlug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<[a-z]+[^>]*\s(?:id|name)="([^"]+)"/gi)) anchors.add(a[1]!);
  }
  return anchors;
}

/** Inline links and images, and reference definitions, outside code; external ones included
 * (the caller filters). Link text may wrap onto the next line, as it does in filled paragraphs. */
export function linksOf(text: string): MarkdownLink[] {
  // Code spans hold no links; they may wrap too, but never past a blank line. Their newlines are
  // kept so offsets still give line numbers.
  const prose = proseLines(text)
    .join('\n')
    .replace(/(`+)(?:[^`\n]|\n(?![ \t]*\n))*?\1/g, (span) => span.replace(/[^\n]/g, ''));
  const lineAt = (offset: number) => prose.slice(0, offset).split('\n').length;
  const links: MarkdownLink[] = [];
  for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+"[^"]*")?\s*\)/g)) {
    links.push({ target: m[1]!.replace(/^<|>$/g, ''), line: lineAt(m.index) });
  }
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:[ \t]*(\S+)/gm)) {
    links.push({ target: m[1]!.replace(/^<|>$/g, ''), line: lineAt(m.index) });
  }
  return links.sort((a, b) => a.line - b.line);
}

/** Whether a target leaves the repository's files (a URL scheme such as https: or mailto:). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

export interface ResolvedLink {
  /** Repository-relative path of the target file or directory (`/`-separated), or the page itself. */
  file: string;
  anchor?: string;
}

/** Resolves a relative link written in `page` (repository-relative) against the repository. */
export function resolveLink(page: string, target: string): ResolvedLink {
  const hash = target.indexOf('#');
  const filePart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
  const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const file = filePart
    ? filePart.startsWith('/')
      ? path.posix.normalize(filePart.slice(1))
      : path.posix.normalize(path.posix.join(path.posix.dirname(page), filePart))
    : page;
  return anchor === undefined ? { file: file.replace(/\/$/, '') } : { file: file.replace(/\/$/, ''), anchor };
}

/** Why a relative link is dead, or undefined when it works: a missing file or directory, a path
 * outside the repository, or an anchor that matches no heading of the Markdown page it names. */
export function deadLinkReason(root: string, page: string, target: string): string | undefined {
  const { file, anchor } = resolveLink(page, target);
  if (file === '..' || file.startsWith('../')) return 'points outside the repository';
  const abs = path.join(root, file);
  if (!existsSync(abs)) return `${file} does not exist`;
  if (anchor === undefined || anchor === '' || !file.endsWith('.md') || !statSync(abs).isFile())
    return undefined;
  if (!anchorsOf(readFileSync(abs, 'utf8')).has(anchor)) return `${file} has no heading #${anchor}`;
  return undefined;
}
