// Numbers, sizes, times and job states in words.

/** `3:05`, or `1:02:03` past an hour; `—` when unknown. */
export function duration(secs) {
  if (secs == null || !Number.isFinite(secs)) return '—';
  const total = Math.round(secs);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** The output format's name as people know it: `MP3`, `Opus`, `FLAC`, `WAV`, `M4A`. */
export function formatLabel(format) {
  const labels = { mp3: 'MP3', opus: 'Opus', flac: 'FLAC', wav: 'WAV', m4a: 'M4A' };
  return labels[format] ?? 'MP3';
}

/** `820 B`, `30 KB`, `1.4 MB`, `2.1 GB` (powers of 1000, as file managers show them). */
export function size(bytes) {
  if (bytes == null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A unix-milliseconds time in the reader's locale. */
export function when(millis) {
  return dateTime.format(new Date(millis));
}

/** A unix-milliseconds date in the reader's locale. */
export function day(millis) {
  return dateOnly.format(new Date(millis));
}

/**
 * Seconds from `90`, `90.5`, `1:30` or `1:02:03.5`; `null` for an empty field; `NaN` when the
 * text is not a time.
 */
export function parseTime(text) {
  const t = text.trim();
  if (t === '') return null;
  if (!/^\d+(?::\d{1,2}){0,2}(?:[.,]\d+)?$/.test(t)) return NaN;
  const parts = t.replace(',', '.').split(':').map(Number);
  if (parts.slice(1).some((p) => p >= 60)) return NaN;
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** A percentage from a 0–1 fraction, floored so 100 % only shows when it is true. */
export function percent(fraction) {
  return Math.max(0, Math.min(100, Math.floor(fraction * 100)));
}

/**
 * The state of a row in words: `waiting to upload`, `extracting the audio 42 %` (taking the
 * audio track out of a video on this device before the upload), `uploading 42 %`, `downloading 42 %` (a
 * URL import the server fetches), `queued`,
 * `converting 42 %`, `done`, `failed`, `interrupted`, `expired`. Why a row failed is shown
 * beside it, as a sentence.
 */
export function stateText(row) {
  switch (row.state) {
    case 'waiting':
      return 'waiting to upload';
    case 'extracting':
      return `extracting the audio ${percent(row.progress)} %`;
    case 'uploading':
      return `uploading ${percent(row.progress)} %`;
    case 'downloading':
      return `downloading ${percent(row.progress)} %`;
    case 'converting':
      return `converting ${percent(row.progress)} %`;
    default:
      return row.state;
  }
}
