// Placeholder until this command is implemented; exits non-zero so nothing mistakes it for working.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('gochive restore: not implemented yet\n');
  return 1;
}
