// The documentation holds together: no relative link in any Markdown file of the repository points at
// a missing file or at an #anchor its target page lacks (GitHub's slug rules), and every page under
// docs/ can be reached from README.md by following links through docs/ pages.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/testenv.js';
import {
  anchorsOf,
  deadLinkReason,
  githubSlug,
  isExternal,
  linksOf,
  markdownFiles,
  resolveLink,
} from '../support/markdown-links.js';

const pages = markdownFiles(repoRoot);
const read = (page: string) => readFileSync(path.join(repoRoot, page), 'utf8');

describe('GitHub heading slugs', () => {
  test.each([
    ['The ledger (bundles in flight)', 'the-ledger-bundles-in-flight'],
    ['Archiving without Kubernetes: `gochive archive`', 'archiving-without-kubernetes-gochive-archive'],
    ["FerretDB's differences from MongoDB", 'ferretdbs-differences-from-mongodb'],
    ['From the original values.yaml', 'from-the-original-valuesyaml'],
    ['Bundles of the original tool, and `file://`', 'bundles-of-the-original-tool-and-file'],
    ['I1 — no loss', 'i1--no-loss'],
    ['snake_case and [a link](x.md)', 'snake_case-and-a-link'],
  ])('%s -> %s', (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  test('repeated headings get -1, -2; headings inside code fences are not headings', () => {
    const anchors = anchorsOf('# Setup\n\n## Setup\n\n```sh\n# not a heading\n```\n\n## Setup\n');
    expect([...anchors].sort()).toEqual(['setup', 'setup-1', 'setup-2']);
  });
});

describe('link reading', () => {
  test('finds inline links, images and reference definitions, not links in code', () => {
    const text = [
      'See [a](docs/a.md#x) and ![img](img/p.png "title").',
      '`[not](a-link.md)` and',
      '```',
      '[not](either.md)',
      '```',
      '[ref]: docs/b.md',
      'a [wrapped',
      'link](docs/c.md) and a `code span',
      'that wraps [not](a-link.md)`.',
    ].join('\n');
    expect(linksOf(text)).toEqual([
      { target: 'docs/a.md#x', line: 1 },
      { target: 'img/p.png', line: 1 },
      { target: 'docs/b.md', line: 6 },
      { target: 'docs/c.md', line: 7 },
    ]);
  });

  test('resolves relative to the page, and a bare #anchor to the page itself', () => {
    expect(resolveLink('docs/restore.md', '../README.md#quick-start')).toEqual({
      file: 'README.md',
      anchor: 'quick-start',
    });
    expect(resolveLink('docs/restore.md', '#exit-codes')).toEqual({
      file: 'docs/restore.md',
      anchor: 'exit-codes',
    });
    expect(resolveLink('charts/gochive/README.md', '../../docs/')).toEqual({ file: 'docs' });
  });

  test('calls a missing file, a missing anchor and a path outside the repository dead', () => {
    expect(deadLinkReason(repoRoot, 'README.md', 'docs/no-such-page.md')).toMatch(/does not exist/);
    expect(deadLinkReason(repoRoot, 'README.md', '#no-such-heading')).toMatch(/has no heading/);
    expect(deadLinkReason(repoRoot, 'docs/restore.md', '../../outside.md')).toMatch(/outside the repository/);
    expect(deadLinkReason(repoRoot, 'README.md', '#quick-start')).toBeUndefined();
  });
});

describe('the repository documentation', () => {
  test('finds README.md and the docs/ pages', () => {
    expect(pages).toContain('README.md');
    expect(pages.filter((p) => p.startsWith('docs/')).length).toBeGreaterThan(0);
  });

  test('has no dead relative link or anchor', () => {
    const dead: string[] = [];
    for (const page of pages) {
      for (const { target, line } of linksOf(read(page))) {
        if (isExternal(target)) continue;
        const why = deadLinkReason(repoRoot, page, target);
        if (why) dead.push(`${page}:${line}: (${target}) ${why}`);
      }
    }
    expect(dead).toEqual([]);
  });

  test('reaches every docs/ page from README.md', () => {
    const reached = new Set(['README.md']);
    const queue = ['README.md'];
    while (queue.length > 0) {
      const page = queue.shift()!;
      for (const { target } of linksOf(read(page))) {
        if (isExternal(target)) continue;
        const { file } = resolveLink(page, target);
        if (file.startsWith('docs/') && file.endsWith('.md') && pages.includes(file) && !reached.has(file)) {
          reached.add(file);
          queue.push(file);
        }
      }
    }
    expect(pages.filter((p) => p.startsWith('docs/') && !reached.has(p))).toEqual([]);
  });
});
