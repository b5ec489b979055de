// Uploads FILE to SERVER's tus endpoint with tus-js-client (Node), in CHUNK-byte PATCHes,
// stopping after the first chunk and resuming from the server's offset in a new Upload (as an
// app restarted by its user would); prints the job id the final PATCH answered with.
// Usage: node upload.mjs SERVER TOKEN FILE CHUNK
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import * as tus from 'tus-js-client';

const [server, token, path, chunk] = process.argv.slice(2);
const file = readFileSync(path);
const options = (extra) => ({
  endpoint: `${server}/api/v1/uploads`,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: basename(path), filetype: 'video/mp4', bitrate: '96' },
  chunkSize: Number(chunk),
  retryDelays: [0, 500],
  ...extra,
});

function run(extra) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, options({ ...extra, onError: reject }));
    upload.options.onChunkComplete = (size, sent) => {
      if (extra.stopAfterFirst) {
        upload.abort().then(() => resolve({ url: upload.url, sent }));
      }
    };
    upload.options.onSuccess = (payload) => {
      resolve({ url: upload.url, job: payload.lastResponse.getHeader('X-Job-Id') });
    };
    upload.start();
  });
}

const first = await run({ stopAfterFirst: true });
if (!first.url || first.sent <= 0) throw new Error('the first chunk did not go up');
const rest = await run({ uploadUrl: first.url });
if (!rest.job) throw new Error('the final PATCH named no job');
console.log(JSON.stringify({ url: first.url, firstChunk: first.sent, job: rest.job }));
