// What the demo prints: numbered steps, indented detail lines, and a block that is redrawn in place on a
// terminal (the refreshing status table) or printed only when it changes otherwise (logs, CI).
const isTty = process.stdout.isTTY === true;
export function step(n: number, total: number, msg: string): void {
  process.stdout.write(`\n==> [${n}/${total}] ${msg}\n`);
}

export function info(msg: string): void {
  for (const line of msg.split('\n')) process.stdout.write(`    ${line}\n`);
}

export function warn(msg: string): void {
  for (const line of msg.split('\n')) process.stdout.write(`    ! ${line}\n`);
}

/** Human-friendly duration: 850ms, 12.3s, 2m05s. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** A block of lines shown in place: redrawn on a terminal, appended when `key` changes elsewhere. */
export class LiveBlock {
  private drawnLines = 0;
  private lastKey: string | undefined;

  show(text: string, key: string): void {
    const lines = text.trimEnd().split('\n');
    if (isTty) {
      if (this.drawnLines > 0) process.stdout.write(`\x1b[${this.drawnLines}A\x1b[J`);
      for (const l of lines) process.stdout.write(`    ${l}\n`);
      this.drawnLines = lines.length;
    } else if (key !== this.lastKey) {
      for (const l of lines) process.stdout.write(`    ${l}\n`);
    }
    this.lastKey = key;
  }

  /** Keeps what is drawn; the next show() starts a new block below it. */
  done(): void {
    this.drawnLines = 0;
    this.lastKey = undefined;
  }
}
