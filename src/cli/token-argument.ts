/**
 * `--token VALUE` as `--token=VALUE`: a token is base64url and one in 64 starts with '-', which
 * node's argument parser would otherwise take for an option and refuse.
 */
export function joinTokenValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--token' && i + 1 < argv.length) out.push(`--token=${argv[++i]}`);
    else out.push(argv[i]!);
  }
  return out;
}
