import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/server.js';
import { ConfigError, loadConfig } from './config.js';
import { KEYS, envName } from './keys.js';
import { renderDefaultToml } from './toml-template.js';
import { parseSize } from './size.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

/** Loads with only the given environment, from an empty directory (no arc.toml found). */
function load(env: Record<string, string> = {}, toml?: string) {
  const cwd = tempDir('arc-config-');
  if (toml !== undefined) fs.writeFileSync(path.join(cwd, 'arc.toml'), toml);
  return loadConfig({ env: { HOME: cwd, ...env }, cwd });
}

function refused(env: Record<string, string>, message: RegExp, toml?: string) {
  assert.throws(() => load(env, toml), (err: unknown) => err instanceof ConfigError && message.test(err.message));
}

test('embedded defaults match Arc (arc-spec §12)', () => {
  const { config, file, warnings } = load();
  assert.equal(file, null);
  assert.deepEqual(warnings, []);
  assert.equal(config.server.port, 8000);
  assert.equal(config.server.host, '');
  assert.equal(config.server.maxPayloadSize, 1024 ** 3);
  assert.equal(config.storage.localPath, './data/arc');
  assert.equal(config.ingest.maxBufferSize, 50000);
  assert.equal(config.ingest.maxBufferAgeMs, 5000);
  assert.equal(config.ingest.compression, 'snappy');
  assert.equal(config.wal.enabled, false);
  assert.equal(config.wal.directory, './data/wal');
  assert.equal(config.auth.enabled, true);
  assert.equal(config.auth.dbPath, './data/arc.db');
  assert.equal(config.auth.cacheTtlSec, 30);
  assert.equal(config.auth.metricsPublic, false);
});

test('sizes: "8MB", "1GB", "512 KiB", "1.5GB", plain bytes; nonsense is null', () => {
  const cases: Array<[string | number, number | null]> = [
    ['8MB', 8 * 2 ** 20], ['1GB', 2 ** 30], ['512 KiB', 512 * 1024], ['1.5GB', 1.5 * 2 ** 30], ['100kb', 102400],
    ['1048576', 1048576], [4096, 4096], ['2T', 2 * 2 ** 40], ['', null], ['MB', null], ['1XB', null], ['-5MB', null], [1.5, null],
  ];
  for (const [input, expected] of cases) assert.equal(parseSize(input), expected, String(input));
});

test('ARC_* environment variables override every key, with Arc names', () => {
  const { config } = load({
    ARC_SERVER_PORT: '9001',
    ARC_SERVER_HOST: '127.0.0.1',
    ARC_SERVER_MAX_PAYLOAD_SIZE: '8MB',
    ARC_STORAGE_LOCAL_PATH: '/srv/arc',
    ARC_INGEST_MAX_BUFFER_SIZE: '1000',
    ARC_INGEST_MAX_BUFFER_AGE_MS: '250',
    ARC_INGEST_COMPRESSION: 'ZSTD',
    ARC_INGEST_MAX_BUFFER_MEMORY: '64MB',
    ARC_AUTH_DB_PATH: '/srv/arc.db',
    ARC_WAL_DIRECTORY: '/srv/wal',
    ARC_AUTH_ENABLED: 'false',
    ARC_WAL_ENABLED: '0',
  });
  assert.equal(config.server.port, 9001);
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.maxPayloadSize, 8 * 2 ** 20);
  assert.equal(config.storage.localPath, '/srv/arc');
  assert.equal(config.ingest.maxBufferSize, 1000);
  assert.equal(config.ingest.maxBufferAgeMs, 250);
  assert.equal(config.ingest.compression, 'zstd');
  assert.equal(config.ingest.maxBufferMemory, 64 * 2 ** 20);
  assert.equal(config.auth.dbPath, '/srv/arc.db');
  assert.equal(config.wal.directory, '/srv/wal');
  assert.equal(config.wal.syncMode, 'fdatasync');
  assert.equal(config.wal.maxSegmentBytes, 100 * 1024 * 1024);
});

test('arc.toml is read from the working directory; the environment wins over it', () => {
  const toml = '[server]\nport = 7000\nmax_payload_size = "16MB"\n[ingest]\ncompression = "gzip"\nmax_buffer_size = 123\n';
  const { config, file } = load({ ARC_SERVER_PORT: '7001' }, toml);
  assert.ok(file?.endsWith('arc.toml'));
  assert.equal(config.server.port, 7001);
  assert.equal(config.server.maxPayloadSize, 16 * 2 ** 20);
  assert.equal(config.ingest.compression, 'gzip');
  assert.equal(config.ingest.maxBufferSize, 123);
});

test('a bad value stops start-up with a message naming the key and its source', () => {
  refused({ ARC_SERVER_PORT: 'eighty' }, /server\.port from environment variable ARC_SERVER_PORT: expected an integer/);
  refused({ ARC_SERVER_PORT: '70000' }, /server\.port .*between 0 and 65535/);
  refused({ ARC_SERVER_MAX_PAYLOAD_SIZE: 'huge' }, /server\.max_payload_size .*expected a size/);
  refused({ ARC_INGEST_MAX_BUFFER_SIZE: '0' }, /ingest\.max_buffer_size/);
  refused({ ARC_INGEST_MAX_BUFFER_AGE_MS: '-5' }, /ingest\.max_buffer_age_ms/);
  refused({ ARC_INGEST_COMPRESSION: 'lz4' }, /ingest\.compression .*must be one of snappy, zstd, gzip, none/);
  refused({ ARC_AUTH_ENABLED: 'maybe' }, /auth\.enabled .*expected true or false/);
  refused({ ARC_WAL_SYNC_MODE: 'sometimes' }, /wal\.sync_mode .*fdatasync/);
  refused({ ARC_WAL_ENABLED: 'true', ARC_WAL_DIRECTORY: ' ' }, /wal\.directory .*must not be empty/);
  refused({}, /server\.port in .*arc\.toml: expected an integer/, '[server]\nport = "x"\n');
  refused({}, /cannot parse .*arc\.toml/, '[server\nport = 1');
  refused({ ARC_CONFIG: '/nonexistent/arc.toml' }, /does not exist/);
});

test('features that are not built refuse to start rather than pretend', () => {
  refused({ ARC_STORAGE_BACKEND: 's3' }, /storage\.backend .*local file system only/);
  refused({ ARC_SERVER_TLS_ENABLED: 'true' }, /tls_cert_file and server\.tls_key_file/);
});

test('unknown and inert keys are reported, not silently dropped', () => {
  const { warnings } = load({ ARC_INGEST_MAX_BUFER_SIZE: '5', ARC_TELEMETRY_ENABLED: 'false' }, '[ingest]\nflsh = 1\n');
  assert.ok(warnings.some((w) => w.includes('unknown key ingest.flsh')));
  assert.ok(warnings.some((w) => w.includes('ARC_INGEST_MAX_BUFER_SIZE is not an arc-ts setting')));
  assert.ok(warnings.some((w) => w.includes('telemetry.enabled is set') && w.includes('no effect')));
});

test('the repository arc.toml lists every key and changes nothing', () => {
  const text = fs.readFileSync(path.join(REPO, 'arc.toml'), 'utf8');
  for (const spec of KEYS) {
    const [section, name] = spec.key.split('.') as [string, string];
    assert.match(text, new RegExp(`\\[${section}\\][\\s\\S]*#? ?${name} =`), `${spec.key} documented in arc.toml`);
    assert.ok(text.includes(envName(spec.key)), `${envName(spec.key)} mentioned in arc.toml`);
  }
  assert.equal(text, renderDefaultToml(), 'arc.toml is stale: node dist/src/cli/arc.js config > arc.toml');
  const cwd = tempDir('arc-config-');
  fs.copyFileSync(path.join(REPO, 'arc.toml'), path.join(cwd, 'arc.toml'));
  const withFile = loadConfig({ env: { HOME: cwd }, cwd });
  assert.deepEqual(withFile.config, load().config);
  assert.deepEqual(withFile.warnings, []);
});
