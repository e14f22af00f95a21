import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * server.read_timeout bounds the time to receive a whole request, which is right for writes and
 * queries but would cut a multi-gigabyte import off after 30 s. Node enforces that bound for every
 * request alike and reports it as a 'clientError'; sockets marked here are let through, and every
 * other client error gets Node's own answer.
 */
const longUploads = new WeakSet<Socket>();

/** Lets this request's body take as long as it needs (the socket's idle timeout is lifted too). */
export function allowLongUpload(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  longUploads.add(socket);
  socket.setTimeout(0);
  res.once('close', () => longUploads.delete(socket));
}

const RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/** Installs the 'clientError' handler: Node's default behaviour, except for marked long uploads. */
export function handleClientErrors(server: http.Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && longUploads.has(socket)) return;
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && (!inFlight || !inFlight.headersSent)) socket.write(RESPONSES[err.code ?? ''] ?? BAD_REQUEST);
    socket.destroy(err);
  });
}
