import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ArcError } from '../errors.js';

/**
 * Streams the part named `field` of a multipart/form-data request into `consume`, never holding
 * it in memory: busboy parses the body as it arrives and `consume` reads at its own pace (the
 * socket is paused while it does not). Other parts are skipped. Resolves with `consume`'s result
 * once the whole body is read; rejects with 415 when the body is not multipart, 400 when it has no
 * such part, or with `consume`'s error (the rest of the body is then left unread).
 */
export function withMultipartFile<T>(req: IncomingMessage, field: string, consume: (file: Readable) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\s*;/i.test(contentType)) {
      reject(new ArcError('ARC_ERR_NOT_MULTIPART', `an import body must be multipart/form-data with the file in the field "${field}"; got Content-Type ${JSON.stringify(contentType)}`));
      return;
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fields: 64, parts: 128, fieldSize: 64 << 10 } });
    } catch (err) {
      reject(new ArcError('ARC_ERR_NOT_MULTIPART', `cannot read the multipart body: ${(err as Error).message}`));
      return;
    }
    let settled = false;
    let work: Promise<T> | null = null;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      reject(error);
    };
    parser.on('file', (name, stream) => {
      if (name !== field || work !== null) {
        stream.resume();
        return;
      }
      work = consume(stream);
      work.then(
        () => stream.resume(), // whatever the consumer left (nothing, normally) is drained
        (err: unknown) => {
          fail(err);
          stream.resume();
        },
      );
    });
    parser.on('error', (err: Error) => fail(new ArcError('ARC_ERR_NOT_MULTIPART', `malformed multipart body: ${err.message}`)));
    parser.on('close', () => {
      if (work === null) fail(new ArcError('ARC_ERR_NO_FILE', `the multipart body has no file in the field "${field}"`));
      else work.then((value) => {
        if (settled) return;
        settled = true;
        resolve(value);
      }, fail);
    });
    req.on('error', fail);
    req.on('close', () => {
      if (req.complete) return;
      // The client went away mid-upload: end the file stream too, or its reader would wait forever.
      const error = new ArcError('ARC_ERR_BAD_REQUEST', 'the client closed the connection before the upload ended');
      parser.destroy(error);
      fail(error);
    });
    req.pipe(parser);
  });
}
