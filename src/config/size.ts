const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 2 ** 10, KB: 2 ** 10, KIB: 2 ** 10,
  M: 2 ** 20, MB: 2 ** 20, MIB: 2 ** 20,
  G: 2 ** 30, GB: 2 ** 30, GIB: 2 ** 30,
  T: 2 ** 40, TB: 2 ** 40, TIB: 2 ** 40,
};

/**
 * Parses a size such as "8MB", "1GB", "512 KiB", "1.5GB" or "1048576" into bytes.
 * Units are binary (1KB = 1024 B), as in Arc's config.ParseSize. Returns null when the text is not
 * a size, so the caller can name the offending key.
 */
export function parseSize(text: string | number): number | null {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return null;
  const unit = UNITS[match[2]!.toUpperCase()];
  if (unit === undefined) return null;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
