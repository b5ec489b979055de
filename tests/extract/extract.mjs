// Runs the web UI's audio extraction (web/extract.js) in Node on a file, for the test suite:
//   node tests/extract/extract.mjs INPUT OUTPUT [TRACK]
// writes the audio-only file to OUTPUT and exits 0, or prints `whole: <reason>` and exits 3.
// Node's Blob from `fs.openAsBlob` reads the file lazily, in slices, as a browser's File does.

import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { extractAudio } from '../../web/extract.js';

const [input, output, track] = process.argv.slice(2);
const blob = await openAsBlob(input);
const file = new File([blob], basename(input), { lastModified: 0 });
const result = await extractAudio(file, { track: track === undefined ? null : Number(track) });
if (result.whole) {
  console.log(`whole: ${result.whole}`);
  process.exit(3);
}
await writeFile(output, new Uint8Array(await result.file.arrayBuffer()));
