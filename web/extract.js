// Takes the audio track out of a video on this device, so that only the sound is uploaded.
//
// No decoding and no re-encoding: the compressed packets are copied as they are into an
// audio-only file — M4A from MP4/MOV/M4V (AAC, MP3, ALAC), Matroska/WebM audio from
// Matroska/WebM (Opus, Vorbis, AAC). The layout is specified in docs/audio-extraction.md; the
// CLI builds the same bytes (crates/media/src/extract/), and the test suite checks that it does.
//
// The file is read in slices, never whole: for MP4 only the box headers and the `moov`; for
// Matroska one pass over the file, skipping the video's payloads. The result is a File made of
// new bytes and slices of the chosen file, which the browser reads only when uploading it.
//
// Whatever this cannot handle exactly gives `{ whole: reason }`, and the caller uploads the
// whole file as before. The server trusts none of it either way.

/** The most a `moov` (or a Matroska Info/Tracks/Chapters/Tags element) may hold. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** How much of the file a Matroska scan reads at once. */
const WINDOW = 4 * 1024 * 1024;
/** The largest audio block copied (an Opus or AAC frame is a few kilobytes). */
const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

class Whole extends Error {}

/** Refuses the extraction with `reason` (the file is then uploaded whole). */
function whole(reason) {
  throw new Whole(reason);
}

async function read(file, start, length) {
  return new Uint8Array(await file.slice(start, start + length).arrayBuffer());
}

const fourcc = (b, at) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
const u16 = (b, at) => (b[at] << 8) | b[at + 1];
const u32 = (b, at) => ((b[at] << 24) >>> 0) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
const u64 = (b, at) => u32(b, at) * 2 ** 32 + u32(b, at + 4);

function be32(value) {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
}

function be64(value) {
  const out = new Uint8Array(8);
  out.set(be32(Math.floor(value / 2 ** 32)), 0);
  out.set(be32(value % 2 ** 32), 4);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Small new byte arrays are joined into parts of about this size. */
const PART_BYTES = 1024 * 1024;

/**
 * The output as pieces: new bytes (`Uint8Array`, small ones joined) or ranges of the source
 * (`{start, end}`, adjacent ones merged).
 */
class Pieces {
  constructor() {
    this.list = [];
    this.pending = [];
    this.pendingLength = 0;
    this.length = 0;
  }

  bytes(b) {
    this.pending.push(b);
    this.pendingLength += b.length;
    this.length += b.length;
    if (this.pendingLength >= PART_BYTES) this.flush();
  }

  range(start, end) {
    this.flush();
    const last = this.list[this.list.length - 1];
    if (last && !(last instanceof Uint8Array) && last.end === start) last.end = end;
    else this.list.push({ start, end });
    this.length += end - start;
  }

  flush() {
    if (this.pending.length > 0) this.list.push(concat(this.pending));
    this.pending = [];
    this.pendingLength = 0;
  }

  /** The pieces as Blob parts of `file`. */
  parts(file) {
    this.flush();
    return this.list.map((p) => (p instanceof Uint8Array ? p : file.slice(p.start, p.end)));
  }
}

// ---------------------------------------------------------------------------------------------
// MP4 → M4A

/** The boxes in `b` from `start` to `end`: `{type, start, end, body}` (body: payload start). */
function boxes(b, start, end) {
  const out = [];
  let at = start;
  while (at + 8 <= end) {
    let size = u32(b, at);
    const type = fourcc(b, at + 4);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > end) whole(`the ${type} box is cut off`);
      size = u64(b, at + 8);
      body = at + 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < body - at || at + size > end) whole(`the ${type} box overruns its parent`);
    out.push({ type, start: at, end: at + size, body });
    at += size;
  }
  return out;
}

const child = (b, box, type) => boxes(b, box.body, box.end).find((c) => c.type === type);

function path(b, box, ...types) {
  let at = box;
  for (const t of types) {
    at = at && child(b, at, t);
  }
  return at ?? null;
}

/** The esds object type of an `mp4a` sample entry (in it, or in a QuickTime `wave`), or null. */
function objectType(b, entry) {
  const version = u16(b, entry.body + 8);
  const skip = { 0: 28, 1: 44, 2: 64 }[version];
  if (skip === undefined || entry.body + skip > entry.end) return null;
  const inner = { type: 'mp4a', body: entry.body + skip, end: entry.end };
  const esds = child(b, inner, 'esds') ?? path(b, child(b, inner, 'wave'), 'esds');
  if (!esds) return null;
  let at = esds.body + 4; // version and flags
  const descriptor = (tag) => {
    if (at >= esds.end || b[at] !== tag) return false;
    at += 1;
    for (let i = 0; i < 4 && at < esds.end; i += 1) {
      const more = b[at] & 0x80;
      at += 1;
      if (!more) break;
    }
    return true;
  };
  if (!descriptor(0x03)) return null;
  const flags = b[at + 2];
  at += 3;
  if (flags & 0x80) at += 2;
  if (flags & 0x40) at += 1 + (b[at] ?? 0);
  if (flags & 0x20) at += 2;
  if (!descriptor(0x04) || at >= esds.end) return null;
  return b[at];
}

const AAC_OR_MP3 = [0x40, 0x66, 0x67, 0x68, 0x69, 0x6b];

/** Whether the track's first sample description is a codec the server converts exactly. */
function supportedCodec(b, stsd) {
  const entry = boxes(b, stsd.body + 8, stsd.end)[0];
  if (!entry) return false;
  if (entry.type === '.mp3' || entry.type === 'alac') return true;
  return entry.type === 'mp4a' && AAC_OR_MP3.includes(objectType(b, entry));
}

/** Per chunk: `{offsetAt, source, size}`, from the track's sample tables. */
function chunkTable(b, stbl, fileSize) {
  if (child(b, stbl, 'stz2')) whole('compact sample sizes (stz2) are not extracted');
  const stsz = child(b, stbl, 'stsz');
  const stsc = child(b, stbl, 'stsc');
  const stco = child(b, stbl, 'stco');
  const co64 = child(b, stbl, 'co64');
  const offsets = stco ?? co64;
  if (!stsz || !stsc || !offsets) whole('the audio track has no sample table');
  const wide = offsets === co64;
  const chunkCount = u32(b, offsets.body + 4);
  const step = wide ? 8 : 4;
  if (offsets.body + 8 + chunkCount * step > offsets.end) whole('the chunk table is cut off');
  const fixed = u32(b, stsz.body + 4);
  const samples = u32(b, stsz.body + 8);
  if (fixed === 0 && stsz.body + 12 + samples * 4 > stsz.end) whole('the sample sizes are cut off');
  const sizeOf = (i) => (fixed !== 0 ? fixed : u32(b, stsz.body + 12 + i * 4));
  const runs = u32(b, stsc.body + 4);
  if (stsc.body + 8 + runs * 12 > stsc.end) whole('the sample-to-chunk table is cut off');
  const chunks = [];
  let sample = 0;
  for (let r = 0; r < runs; r += 1) {
    const first = u32(b, stsc.body + 8 + r * 12);
    const perChunk = u32(b, stsc.body + 12 + r * 12);
    const next = r + 1 < runs ? u32(b, stsc.body + 20 + r * 12) : chunkCount + 1;
    if (first !== chunks.length + 1 || next <= first || next > chunkCount + 1) {
      whole('the sample-to-chunk table does not add up');
    }
    for (let c = first; c < next; c += 1) {
      if (sample + perChunk > samples) whole('the chunks hold more samples than the track');
      let size = 0;
      for (let s = sample; s < sample + perChunk; s += 1) size += sizeOf(s);
      sample += perChunk;
      const offsetAt = offsets.body + 8 + (c - 1) * step;
      const source = wide ? u64(b, offsetAt) : u32(b, offsetAt);
      if (source + size > fileSize) whole('a chunk lies beyond the end of the file');
      chunks.push({ offsetAt, source, size });
    }
  }
  if (chunks.length !== chunkCount || sample !== samples) whole('the sample tables do not add up');
  return { chunks, wide };
}

async function extractMp4(file, track) {
  const top = [];
  for (let at = 0; at + 8 <= file.size;) {
    const head = await read(file, at, 16);
    let size = u32(head, 0);
    const type = fourcc(head, 4);
    let body = at + 8;
    if (size === 1) {
      size = u64(head, 8);
      body = at + 16;
    } else if (size === 0) {
      size = file.size - at;
    }
    if (size < body - at || at + size > file.size) whole(`the ${type} box overruns the file`);
    top.push({ type, start: at, end: at + size, body });
    at += size;
  }
  if (top.some((t) => t.type === 'moof')) whole('fragmented MP4 is not extracted');
  const moovs = top.filter((t) => t.type === 'moov');
  if (moovs.length !== 1) whole('the file has no single moov box');
  const moovBox = moovs[0];
  if (moovBox.end - moovBox.start > MAX_HEADER_BYTES) whole('the moov box is too large');
  const b = await read(file, moovBox.start, moovBox.end - moovBox.start);
  const moov = { type: 'moov', start: 0, end: b.length, body: moovBox.body - moovBox.start };
  const children = boxes(b, moov.body, moov.end);
  if (children.some((c) => c.type === 'mvex')) whole('fragmented MP4 is not extracted');
  const traks = children.filter((c) => c.type === 'trak');
  const audio = traks.filter((t) => {
    const hdlr = path(b, t, 'mdia', 'hdlr');
    return hdlr && hdlr.body + 12 <= hdlr.end && fourcc(b, hdlr.body + 8) === 'soun';
  });
  const chosen = pick(audio, track);
  if (traks.length === 1) whole('the file holds only its audio track');
  const stbl = path(b, chosen, 'mdia', 'minf', 'stbl');
  const stsd = stbl && child(b, stbl, 'stsd');
  if (!stsd || !supportedCodec(b, stsd)) whole('the audio codec is not one that is extracted');
  const { chunks, wide } = chunkTable(b, stbl, file.size);

  const kept = children.filter((c) => c.type !== 'trak' || c === chosen);
  const moovSize = 8 + kept.reduce((n, c) => n + (c.end - c.start), 0);
  const payload = chunks.reduce((n, c) => n + c.size, 0);
  const mdatHeader = payload + 8 <= 0xffffffff
    ? concat([be32(payload + 8), new TextEncoder().encode('mdat')])
    : concat([be32(1), new TextEncoder().encode('mdat'), be64(payload + 16)]);
  const ftyp = concat([be32(28), ...['ftyp', 'M4A '].map((s) => new TextEncoder().encode(s)),
    be32(0), ...['M4A ', 'mp42', 'isom'].map((s) => new TextEncoder().encode(s))]);
  let at = ftyp.length + moovSize + mdatHeader.length;
  const patched = b.slice(chosen.start, chosen.end);
  for (const c of chunks) {
    const where = c.offsetAt - chosen.start;
    if (wide) patched.set(be64(at), where);
    else if (at > 0xffffffff) whole('the audio would not fit 32-bit chunk offsets');
    else patched.set(be32(at), where);
    at += c.size;
  }

  const out = new Pieces();
  out.bytes(ftyp);
  out.bytes(concat([be32(moovSize), new TextEncoder().encode('moov')]));
  for (const c of kept) out.bytes(c === chosen ? patched : b.slice(c.start, c.end));
  out.bytes(mdatHeader);
  for (const c of chunks) if (c.size > 0) out.range(c.source, c.source + c.size);
  return { pieces: out, type: 'audio/mp4' };
}

/** The chosen audio track among `audio`: the `track` option, or the only one. */
function pick(audio, track) {
  if (audio.length === 0) whole('the file has no audio track');
  if (track == null) {
    if (audio.length > 1) whole('the file has several audio tracks and none was chosen');
    return audio[0];
  }
  if (track >= audio.length) whole(`the file has no audio track ${track}`);
  return audio[track];
}

// ---------------------------------------------------------------------------------------------
// Matroska / WebM → Matroska / WebM audio

const EBML = 0x1a45dfa3;
const SEGMENT = 0x18538067;
const CLUSTER = 0x1f43b675;
const INFO = 0x1549a966;
const TRACKS = 0x1654ae6b;
const CHAPTERS = 0x1043a770;
const TAGS = 0x1254c367;
const TRACK_ENTRY = 0xae;
const TIMECODE = 0xe7;
const SIMPLE_BLOCK = 0xa3;
const BLOCK_GROUP = 0xa0;
const BLOCK = 0xa1;
const DOC_TYPE = 0x4282;
/** Elements that end an unknown-size cluster: the level-1 ones. */
const LEVEL1 = new Set([CLUSTER, INFO, TRACKS, CHAPTERS, TAGS, 0x114d9b74, 0x1c53bb6b, 0x1941a469, SEGMENT, EBML]);
const AUDIO_CODECS = (id) => id === 'A_OPUS' || id === 'A_VORBIS' || id.startsWith('A_AAC');

/** An EBML variable-size integer at `at` of `b`: `{value, length, unknown}`, or null if cut off. */
function vint(b, at, keepMarker) {
  if (at >= b.length) return null;
  const first = b[at];
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length += 1;
  if (length > 8) whole('an element header is damaged');
  if (at + length > b.length) return null;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === (0xff >> length);
  for (let i = 1; i < length; i += 1) {
    value = value * 256 + b[at + i];
    if (b[at + i] !== 0xff) allOnes = false;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

/** An 8-byte EBML size, as every new element size is written. */
function size8(value) {
  const out = be64(value);
  out[0] = 0x01;
  return out;
}

function idBytes(id) {
  const out = [];
  for (let v = id; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return Uint8Array.from(out);
}

/** Reads a file sequentially through a window, skipping what is not needed. */
class Cursor {
  constructor(file, onProgress) {
    this.file = file;
    this.pos = 0;
    this.buf = new Uint8Array(0);
    this.bufStart = 0;
    this.onProgress = onProgress;
  }

  /** At least `n` bytes from the position on, or fewer at the end of the file. */
  async view(n) {
    const offset = this.pos - this.bufStart;
    if (offset < 0 || offset + n > this.buf.length) {
      const length = Math.min(Math.max(n, WINDOW), this.file.size - this.pos);
      this.buf = await read(this.file, this.pos, length);
      this.bufStart = this.pos;
      this.onProgress?.(this.pos, this.file.size);
    }
    return { b: this.buf, at: this.pos - this.bufStart };
  }

  /** The element header at the position: `{id, size, unknown, headerLength}`, or null at the end. */
  async header() {
    if (this.pos >= this.file.size) return null;
    const { b, at } = await this.view(12);
    const id = vint(b, at, true);
    const size = id && vint(b, at + id.length, false);
    if (!size) whole('an element header is cut off');
    return { id: id.value, size: size.value, unknown: size.unknown, headerLength: id.length + size.length };
  }

  async bytes(n) {
    if (n > MAX_HEADER_BYTES) whole('an element is too large');
    if (this.pos + n > this.file.size) whole('an element is cut off');
    const { b, at } = await this.view(n);
    return b.slice(at, at + n);
  }
}

/** The elements of `b` from `start` to `end`: `{id, body, end}`; damaged ones refused. */
function elements(b, start, end, what) {
  const out = [];
  for (let at = start; at < end;) {
    const id = vint(b, at, true);
    const size = id && vint(b, at + id.length, false);
    if (!size || size.unknown) whole(`${what} is damaged`);
    const body = at + id.length + size.length;
    if (body + size.value > end) whole(`${what} is damaged`);
    out.push({ id: id.value, start: at, body, end: body + size.value });
    at = body + size.value;
  }
  return out;
}

/** The text of the first `id` element in `b` from `start` on, NULs at its end dropped. */
function elementText(b, start, id) {
  const e = elements(b, start, b.length, 'the header').find((x) => x.id === id);
  return e ? new TextDecoder().decode(b.subarray(e.body, e.end)).replace(/\0+$/, '') : '';
}

/** The Tracks element's entries: `{number, type, codec, start, end}` (offsets in `b`). */
function trackEntries(b, start, end) {
  return elements(b, start, end, 'the track list')
    .filter((e) => e.id === TRACK_ENTRY)
    .map((e) => {
      const entry = { number: null, type: null, codec: '', start: e.start, end: e.end };
      for (const c of elements(b, e.body, e.end, 'a track entry')) {
        const value = b.subarray(c.body, c.end);
        const uint = () => value.reduce((n, x) => n * 256 + x, 0);
        if (c.id === 0xd7) entry.number = uint();
        else if (c.id === 0x83) entry.type = uint();
        else if (c.id === 0x86) entry.codec = new TextDecoder().decode(value).replace(/\0+$/, '');
      }
      return entry;
    });
}

/** The track number a Block or SimpleBlock (its payload at the cursor) belongs to. */
async function blockTrack(cursor) {
  const { b, at } = await cursor.view(8);
  const n = vint(b, at, false);
  if (!n) whole('a block is cut off');
  return n.value;
}

async function extractMatroska(file, track, onProgress) {
  const cursor = new Cursor(file, onProgress);
  const ebml = await cursor.header();
  if (!ebml || ebml.id !== EBML || ebml.unknown) whole('not a Matroska file');
  const ebmlBytes = await cursor.bytes(ebml.headerLength + ebml.size);
  const docType = elementText(ebmlBytes, ebml.headerLength, DOC_TYPE);
  if (docType !== 'webm' && docType !== 'matroska') whole('not a Matroska or WebM file');
  cursor.pos += ebmlBytes.length;
  const segment = await cursor.header();
  if (!segment || segment.id !== SEGMENT) whole('the file has no segment');
  cursor.pos += segment.headerLength;
  const segmentEnd = segment.unknown ? file.size : cursor.pos + segment.size;
  if (segmentEnd > file.size) whole('the file is cut off');

  let info = null;
  let tracks = null;
  let chosen = null;
  const chapters = [];
  const tags = [];
  const clusters = [];
  while (cursor.pos < segmentEnd) {
    const h = await cursor.header();
    if (!h) break;
    const start = cursor.pos;
    if (h.id === CLUSTER) {
      if (!chosen) whole('the clusters come before the track list');
      clusters.push(await readCluster(cursor, h, segmentEnd, chosen.number));
      continue;
    }
    if (h.unknown) whole('an element of unknown size is not a cluster');
    const end = start + h.headerLength + h.size;
    if (end > segmentEnd) whole('an element overruns the segment');
    if (h.id === INFO || h.id === TRACKS || h.id === CHAPTERS || h.id === TAGS) {
      const bytes = await cursor.bytes(h.headerLength + h.size);
      if (h.id === INFO) {
        if (info) whole('the file has two Info elements');
        info = bytes;
      } else if (h.id === TRACKS) {
        if (tracks) whole('the file has two track lists');
        tracks = trackEntries(bytes, h.headerLength, bytes.length);
        if (tracks.length === 1) whole('the file holds only its audio track');
        chosen = pick(tracks.filter((t) => t.type === 2), track);
        if (chosen.number === null) whole('the audio track has no number');
        if (!AUDIO_CODECS(chosen.codec)) whole(`the audio codec ${chosen.codec} is not one that is extracted`);
        chosen.bytes = bytes.slice(chosen.start, chosen.end);
      } else {
        (h.id === CHAPTERS ? chapters : tags).push(bytes);
      }
    }
    cursor.pos = end;
  }
  if (!info || !tracks) whole('the file has no Info or no track list');
  const kept = clusters.filter((c) => c.blocks.length > 0);
  if (kept.length === 0) whole('the audio track has no blocks');

  const out = new Pieces();
  out.bytes(ebmlBytes);
  const body = new Pieces();
  body.bytes(info);
  body.bytes(concat([idBytes(TRACKS), size8(chosen.bytes.length), chosen.bytes]));
  for (const c of [...chapters, ...tags]) body.bytes(c);
  for (const c of kept) {
    const size = c.timecode.length + c.blocks.reduce((n, x) => n + x.length, 0);
    body.bytes(concat([idBytes(CLUSTER), size8(size), c.timecode]));
    for (const x of c.blocks) body.bytes(x);
  }
  out.bytes(concat([idBytes(SEGMENT), size8(body.length)]));
  for (const p of body.parts()) out.bytes(p);
  return { pieces: out, type: docType === 'webm' ? 'audio/webm' : 'audio/x-matroska' };
}

/** One cluster: its Timecode element and the chosen track's blocks (copied). */
async function readCluster(cursor, h, segmentEnd, number) {
  cursor.pos += h.headerLength;
  const end = h.unknown ? segmentEnd : cursor.pos + h.size;
  if (end > segmentEnd) whole('a cluster overruns the segment');
  const cluster = { timecode: null, blocks: [] };
  while (cursor.pos < end) {
    const c = await cursor.header();
    if (!c) break;
    if (h.unknown && LEVEL1.has(c.id)) break;
    if (c.unknown) whole('a block of unknown size');
    const start = cursor.pos;
    const total = c.headerLength + c.size;
    if (start + total > end) whole('a block overruns its cluster');
    if (c.id === TIMECODE) {
      cluster.timecode = await cursor.bytes(total);
    } else if (c.id === SIMPLE_BLOCK || c.id === BLOCK_GROUP) {
      let mine;
      if (c.id === SIMPLE_BLOCK) {
        cursor.pos = start + c.headerLength;
        mine = (await blockTrack(cursor)) === number;
      } else {
        mine = await groupTrack(cursor, start + c.headerLength, start + total) === number;
      }
      cursor.pos = start;
      if (mine) {
        if (total > MAX_BLOCK_BYTES) whole('an audio block is too large');
        cluster.blocks.push(await cursor.bytes(total));
      }
    }
    cursor.pos = start + total;
  }
  if (cluster.blocks.length > 0 && !cluster.timecode) whole('a cluster has no timecode');
  return cluster;
}

/** The track number of a BlockGroup's Block, or null. */
async function groupTrack(cursor, start, end) {
  cursor.pos = start;
  while (cursor.pos < end) {
    const c = await cursor.header();
    if (!c || c.unknown || cursor.pos + c.headerLength + c.size > end) whole('a block group is damaged');
    if (c.id === BLOCK) {
      cursor.pos += c.headerLength;
      return blockTrack(cursor);
    }
    cursor.pos += c.headerLength + c.size;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------

/**
 * The audio-only file for `file`, or why there is none. `track` is the chosen audio track (null:
 * the only one); `onProgress(read, total)` follows the reading of a Matroska file. Resolves to
 * `{ file }` — a File with the original's name and date, made of slices of it — or to
 * `{ whole: reason }`. Never rejects for a file it does not understand.
 */
export async function extractAudio(file, { track = null, onProgress = null } = {}) {
  try {
    const head = await read(file, 0, 12);
    let result;
    if (head.length >= 8 && ['ftyp', 'moov', 'mdat', 'wide', 'free', 'skip'].includes(fourcc(head, 4))) {
      result = await extractMp4(file, track);
    } else if (head.length >= 4 && u32(head, 0) === EBML) {
      result = await extractMatroska(file, track, onProgress);
    } else {
      return { whole: 'not an MP4 or Matroska file' };
    }
    const parts = result.pieces.parts(file);
    const audio = new File(parts, file.name, { type: result.type, lastModified: file.lastModified });
    if (audio.size >= file.size) return { whole: 'the audio is not smaller than the file' };
    return { file: audio };
  } catch (e) {
    if (e instanceof Whole) return { whole: e.message };
    // A file that cannot be read (a slice refused, the file gone) is uploaded whole too, so
    // the upload reports the real problem.
    return { whole: `the file could not be read: ${e.message}` };
  }
}
