/**
 * V8 flags the server process is started with (the `arc` shebang, start.sh, and every test and
 * benchmark that starts a server pass them; V8 reads them when the heap is set up, so the server
 * cannot set them for itself once running).
 *
 * --max-semi-space-size=4: the young generation of each isolate stays at 4 MB per semi-space
 * instead of growing to 16 MB (Node 20's default on this machine class). Ingestion and imports
 * allocate many short-lived objects around large typed arrays; with the big default the main
 * thread kept ~30 MB of young heap plus the ArrayBuffers that waited for its rarer scavenges.
 * Measured (docs/benchmarks.md): peak RSS 0.74× under `arc bench`, 1 GB Parquet import peak
 * 236 MB against 313 MB, ingest throughput within noise, p99 0.80×.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
