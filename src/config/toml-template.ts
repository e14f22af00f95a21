import { KEYS, envName, type ConfigValue, type KeySpec } from './keys.js';

const HEADER = `# arc-ts configuration — every key, with its default, commented out.
#
# arc-ts reads arc.toml from the working directory, /etc/arc/ or ~/.arc/ (or --config FILE,
# ARC_CONFIG=FILE), then lets ARC_<SECTION>_<KEY> environment variables override any key
# (server.max_payload_size → ARC_SERVER_MAX_PAYLOAD_SIZE). Sizes accept "512MB", "1GB", "64KiB".
# Uncomment a line to change it. A bad value stops start-up with a message naming the key.
#
# Keys marked "not used by arc-ts" are accepted so that an Arc arc.toml loads unchanged; setting
# them has no effect (the server says so at start-up). Keys of features that are not built yet
# (write-ahead log, authentication) refuse values that would promise what arc-ts cannot keep.
#
# Regenerate: node dist/src/cli/arc.js config > arc.toml
`;

/** The documented arc.toml shipped in the repository (`arc config` prints it). */
export function renderDefaultToml(): string {
  const sections = new Map<string, KeySpec[]>();
  for (const spec of KEYS) {
    const [section] = spec.key.split('.') as [string];
    let list = sections.get(section);
    if (!list) sections.set(section, (list = []));
    list.push(spec);
  }
  let out = HEADER;
  for (const [section, specs] of sections) {
    out += `\n[${section}]\n`;
    for (const spec of specs) {
      const name = spec.key.slice(section.length + 1);
      const note = spec.status === 'ignored' ? 'Not used by arc-ts. ' : spec.status === 'planned' ? 'Not built yet. ' : '';
      out += `# ${note}${spec.doc} (${envName(spec.key)})\n`;
      out += `# ${name} = ${tomlValue(spec)}\n`;
    }
  }
  return out;
}

function tomlValue(spec: KeySpec): string {
  if (spec.key === 'server.max_payload_size' || spec.key === 'ingest.max_buffer_memory') return JSON.stringify(sizeText(spec.default as number));
  if (spec.key === 'ingest.flush_workers') return '2  # default depends on the machine: CPU cores - 1, between 1 and 4';
  if (spec.key === 'query.threads') return '2  # default depends on the machine: CPU cores - 1, at least 1';
  return render(spec.default);
}

function render(value: ConfigValue): string {
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function sizeText(bytes: number): string {
  for (const [unit, size] of [['GB', 2 ** 30], ['MB', 2 ** 20], ['KB', 2 ** 10]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
