// The web UI end to end, in Debian's Chromium driven by playwright-core (it never downloads a
// browser). Run by crates/mp3converter/tests/browser.rs against a real server; by hand:
//
//   MP3C_URL=http://127.0.0.1:8080 MP3C_TEST_CHROMIUM=/usr/bin/chromium MP3C_OUT=/tmp/shots \
//   MP3C_FIXTURES=tests/fixtures/media MP3C_ADMIN_EMAIL=… MP3C_ADMIN_PASSWORD=… \
//   MP3C_USER1_EMAIL=… MP3C_USER1_PASSWORD=… MP3C_USER2_EMAIL=… MP3C_USER2_PASSWORD=… \
//   node tests/browser/flow.mjs
//
// (the three accounts must exist). MP3C_SHORT_URL is a second server whose tokens live
// MP3C_SHORT_TTL seconds (with the same user 1): the session-end steps run there. The server's
// upload limit must be below m4a-alac.m4a's size (179 KB). Every page is checked at desktop and
// phone width, light and dark, for clipped or overflowing controls, with a screenshot of each
// (NN-page-desktop-light.png …). A screenshot of each step goes to MP3C_OUT. While working on
// the UI, MP3C_WEB_DIR=web serves the page's files from that folder instead of the binary, so a
// change needs no rebuild. Exits non-zero at the first failed check.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const BASE = env('MP3C_URL').replace(/\/$/, '');
const OUT = env('MP3C_OUT');
const FIXTURES = env('MP3C_FIXTURES');
const ADMIN = { email: env('MP3C_ADMIN_EMAIL'), password: env('MP3C_ADMIN_PASSWORD') };
const ALICE = { email: env('MP3C_USER1_EMAIL'), password: env('MP3C_USER1_PASSWORD') };
const BOB = { email: env('MP3C_USER2_EMAIL'), password: env('MP3C_USER2_PASSWORD') };
const SHORT = env('MP3C_SHORT_URL').replace(/\/$/, '');
const SHORT_TTL = Number(env('MP3C_SHORT_TTL'));
const IMPORT_URL = env('MP3C_IMPORT_URL'); // a video on a local origin the server may import from
const VIDEO = 'mp4-aac-moov-end.mp4'; // 3 s of stereo AAC under H.264
const fixture = (name) => path.join(FIXTURES, name);

await fs.mkdir(OUT, { recursive: true });
const browser = await chromium.launch({
  executablePath: env('MP3C_TEST_CHROMIUM'),
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 760 } });
const page = await context.newPage();
page.setDefaultTimeout(30_000);

// Anything the page logs as an error fails the run (a CSP violation, an exception), except the
// browser's own notes about answers that are errors on purpose (401 on a wrong password, 415).
const problems = [];
page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
});
// The token never goes into a URL (it would stay in the history): every request the page makes
// is recorded, and none may carry it. Audio and downloads use short-lived signed URLs instead.
const requested = [];
context.on('request', (r) => requested.push(r.url()));

if (process.env.MP3C_WEB_DIR) {
  const dir = process.env.MP3C_WEB_DIR;
  await context.route(/^http:\/\/127\.0\.0\.1:\d+\/(assets\/.*)?$/, async (route) => {
    const url = new URL(route.request().url());
    const file = url.pathname === '/' ? 'index.html' : url.pathname.replace(/^\/assets\//, '');
    if (url.pathname !== '/' && !url.pathname.startsWith('/assets/')) return route.continue();
    const response = await route.fetch({ headers: { ...route.request().headers(), 'if-none-match': '' } });
    const headers = { ...response.headers() };
    delete headers.etag;
    delete headers['content-length'];
    return route.fulfill({ status: 200, headers, body: await fs.readFile(path.join(dir, file)) });
  });
}

let shot = 0;
async function screenshot(name) {
  shot += 1;
  const file = path.join(OUT, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

function step(name) {
  console.log(`step: ${name}`);
}

/** The row of the job named `name` (the newest, if there are several). */
const row = (name) => page.locator('li.job', { has: page.locator('.job-name', { hasText: name }) }).first();

/** Waits until the row of `name` says `text` (a string: exactly; a RegExp: matching). */
async function waitForState(name, text) {
  await page.waitForFunction(
    ([n, source, exact]) => {
      const li = [...document.querySelectorAll('li.job')].find((el) => el.querySelector('.job-name')?.textContent === n);
      const state = li?.querySelector('.job-state')?.textContent ?? '';
      return exact ? state === source : new RegExp(source).test(state);
    },
    typeof text === 'string' ? [name, text, true] : [name, text.source, false],
  );
}

/** An API call made from the page with its session token. */
async function apiFromPage(method, url) {
  return page.evaluate(
    async ([m, u]) => {
      const res = await fetch(u, { method: m, headers: { Authorization: `Bearer ${sessionStorage.getItem('mp3converter.token')}` } });
      return { status: res.status, body: res.status === 200 ? await res.json() : null };
    },
    [method, url],
  );
}

async function logIn(user) {
  await page.locator('#login-view').waitFor();
  await page.fill('#login-email', user.email);
  await page.fill('#login-password', user.password);
  await page.press('#login-password', 'Enter');
  await page.locator('#nav').waitFor();
  assert.equal(await page.textContent('#who'), user.email);
}

/** The run's sizes and colour schemes for the layout checks. */
const SIZES = [
  { name: 'desktop', width: 1000, height: 760 },
  { name: 'phone', width: 390, height: 844 },
];
const SCHEMES = ['light', 'dark'];

/**
 * Nothing on the page is clipped or overflows: no sideways scrolling; every visible control
 * (button, link styled as one, input, select, navigation link) lies inside the viewport and
 * shows all of its text (scrollWidth <= clientWidth); a button's label is on one line. Returns
 * the problems found.
 */
async function layoutProblems() {
  return page.evaluate(() => {
    const problems = [];
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > width) {
      problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${width} px)`);
    }
    const visible = (el) => {
      if (el.closest('[hidden], .visually-hidden')) return false;
      const style = getComputedStyle(el);
      if (style.display === 'none' || style.visibility === 'hidden') return false;
      const r = el.getBoundingClientRect();
      return r.width > 1 && r.height > 1;
    };
    const name = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} “${(el.textContent || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30)}”`;
    const controls = document.querySelectorAll('button, a.button, label.button, input:not([type="file"]), select, nav a, audio, .job-name, td');
    for (const el of controls) {
      if (!visible(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.left < -0.5 || r.right > width + 0.5) problems.push(`${name(el)} sticks out of the viewport (${Math.round(r.left)}–${Math.round(r.right)} of ${width} px)`);
      if (el.scrollWidth > el.clientWidth + 1 && !['AUDIO', 'TD'].includes(el.tagName)) {
        problems.push(`${name(el)} cuts its content (${el.scrollWidth} > ${el.clientWidth} px)`);
      }
      // Every part of it can be seen: no ancestor that clips it (overflow hidden or scrolled).
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p);
        if (o.overflowX === 'visible' && o.overflowY === 'visible') continue;
        const b = p.getBoundingClientRect();
        if (r.left < b.left - 0.5 || r.right > b.right + 0.5) problems.push(`${name(el)} is clipped by ${p.tagName.toLowerCase()}.${p.className}`);
      }
      if (el.matches('button, a.button, label.button')) {
        // One line: every piece of the visible label has the same top.
        const tops = new Set();
        for (const node of el.childNodes) {
          if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
          const range = document.createRange();
          range.selectNodeContents(node);
          for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
        }
        if (tops.size > 1) problems.push(`${name(el)} wraps its label over ${tops.size} lines`);
      }
    }
    return problems;
  });
}

/**
 * Checks the page as it is now at every size and colour scheme, with a screenshot of each;
 * `prepare()` (optional) runs after each resize, for pages that need a moment.
 */
async function checkEverySize(pageName, prepare) {
  for (const size of SIZES) {
    await page.setViewportSize({ width: size.width, height: size.height });
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      if (prepare) await prepare();
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg === 'rgb(246, 247, 249)', scheme === 'light', `${scheme} colours (${bg})`);
      const problems = await layoutProblems();
      await screenshot(`${pageName}-${size.name}-${scheme}`);
      assert.deepEqual(problems, [], `${pageName} at ${size.name} width, ${scheme}`);
    }
  }
  await page.setViewportSize({ width: SIZES[0].width, height: SIZES[0].height });
  await page.emulateMedia({ colorScheme: 'light' });
}

async function logOut() {
  await page.click('#logout');
  await page.locator('#login-view').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the token is gone');
}

// --------------------------------------------------------------------------------------------
step('the login page');
await page.goto(BASE);
await page.locator('#login-view').waitFor();
assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-email', 'the email field has the focus');
await screenshot('login');
await checkEverySize('login');

step('a wrong password is refused in words');
await page.fill('#login-email', ALICE.email);
await page.fill('#login-password', 'not-the-password');
await page.press('#login-password', 'Enter');
await page.locator('#login-error', { hasText: 'Wrong email or password.' }).waitFor();
await screenshot('wrong-password');

step('log in with the keyboard');
await page.fill('#login-password', ALICE.password);
await page.press('#login-password', 'Enter');
await page.locator('#jobs-view').waitFor();
assert.equal(await page.textContent('#who'), ALICE.email);
await page.locator('#jobs-empty').waitFor();
await screenshot('logged-in');

step('the session survives a reload');
await page.reload();
await page.locator('#jobs-view').waitFor();
assert.equal(await page.textContent('#who'), ALICE.email);
assert.ok(await page.isHidden('#login-view'));

step('keyboard focus on the file picker is visible');
await page.focus('#file-input');
const outline = await page.$eval('label[for="file-input"]', (el) => getComputedStyle(el).outlineStyle);
assert.notEqual(outline, 'none', 'the "Choose files" button shows the focus');

step('advanced options: 128 kbps');
await page.click('#advanced summary');
await page.selectOption('#bitrate', '128');
await page.fill('#start', 'soon');
await page.setInputFiles('#file-input', fixture(VIDEO));
await page.locator('#options-error', { hasText: 'Start is not a time' }).waitFor();
assert.equal(await page.locator('li.job').count(), 0, 'nothing is uploaded with invalid options');
await page.fill('#start', '');
await screenshot('options');

step('upload a video: byte progress, then conversion, then done');
// Record every state text the rows show, to check the upload's progress was seen in between.
await page.evaluate(() => {
  window.seenStates = [];
  const list = document.getElementById('jobs');
  const record = () => {
    for (const el of list.querySelectorAll('.job-state')) {
      const last = window.seenStates[window.seenStates.length - 1];
      if (el.textContent !== last) window.seenStates.push(el.textContent);
    }
  };
  new MutationObserver(record).observe(list, { subtree: true, childList: true, characterData: true });
});
// A slow uplink (12 KB/s for a 31 KB file) so that the progress bar has steps to show.
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
// What the page announces it will send: only the audio track of the video (extracted here).
const uploadLengths = [];
const noteLength = (r) => {
  if (r.method() === 'POST' && r.url().endsWith('/api/v1/uploads')) uploadLengths.push(Number(r.headers()['upload-length']));
};
page.on('request', noteLength);
await cdp.send('Network.emulateNetworkConditions', {
  offline: false,
  latency: 0,
  downloadThroughput: -1,
  uploadThroughput: 12 * 1024,
});
await page.setInputFiles('#file-input', fixture(VIDEO));
await waitForState(VIDEO, /^uploading [1-9]\d? %$/);
const bar = await row(VIDEO).locator('progress').evaluate((p) => ({ value: p.value, hidden: p.hidden }));
assert.ok(!bar.hidden && bar.value > 0 && bar.value < 100, `a partial progress bar: ${JSON.stringify(bar)}`);
await screenshot('uploading');
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
await waitForState(VIDEO, 'done');
const seen = await page.evaluate(() => window.seenStates);
const uploading = seen.filter((s) => s.startsWith('uploading '));
assert.ok(uploading.length >= 2, `several upload steps: ${seen.join(' | ')}`);
const firstServerState = seen.findIndex((s) => /^(queued|converting|done)/.test(s));
assert.ok(firstServerState > seen.indexOf(uploading[0]), `upload before conversion: ${seen.join(' | ')}`);
assert.ok(!seen.slice(firstServerState).some((s) => s.startsWith('uploading')), `no upload after: ${seen.join(' | ')}`);
assert.equal(seen[seen.length - 1], 'done');
await row(VIDEO).locator('progress').waitFor({ state: 'hidden' });
page.off('request', noteLength);
const videoBytes = (await fs.stat(fixture(VIDEO))).size;
assert.equal(uploadLengths.length, 1, `one upload: ${uploadLengths}`);
assert.ok(uploadLengths[0] < videoBytes * 0.9, `only the audio was sent: ${uploadLengths[0]} of ${videoBytes} bytes`);
assert.match(await row(VIDEO).locator('.job-meta').textContent(), /only the audio was sent: \d+ KB of 31 KB/);

step('the estimate for the chosen file, and again when the options change');
// The last file chosen was VIDEO (3 s) at 128 kbps: about 48 KB, ready in about a second.
const estimate = page.locator('#estimate');
await estimate.waitFor();
assert.match(await estimate.textContent(), /^≈ [45]\d KB, ready ≈ \d+ s after upload$/);
await page.selectOption('#format', 'wav');
await page.locator('#estimate', { hasText: /^≈ 5\d\d KB, ready/ }).waitFor();
await screenshot('estimate');
await page.selectOption('#format', 'mp3');
await page.locator('#estimate', { hasText: /^≈ [45]\d KB, ready/ }).waitFor();

step('with “Send only the audio track” off, the whole file is sent');
uploadLengths.length = 0;
page.on('request', noteLength);
await page.uncheck('#extract-audio');
await page.setInputFiles('#file-input', fixture('webm-opus.webm'));
await waitForState('webm-opus.webm', 'done');
page.off('request', noteLength);
await page.check('#extract-audio');
assert.deepEqual(uploadLengths, [(await fs.stat(fixture('webm-opus.webm'))).size], 'the whole file was sent');
assert.match(await row('webm-opus.webm').locator('.job-meta').textContent(), /video 23 KB/);

step('the player gets the duration');
await page.waitForFunction((name) => {
  const li = [...document.querySelectorAll('li.job')].find((el) => el.querySelector('.job-name')?.textContent === name);
  const audio = li?.querySelector('audio');
  return audio && Number.isFinite(audio.duration) && audio.duration > 0;
}, VIDEO);
const playerSecs = await row(VIDEO).locator('audio').evaluate((a) => a.duration);
assert.ok(Math.abs(playerSecs - 3) < 0.15, `the player says ${playerSecs} s`);
const meta = await row(VIDEO).locator('.job-meta').textContent();
assert.match(meta, /^0:03 · only the audio was sent: 26 KB of 31 KB · MP3 \d+ KB · /, meta);
await screenshot('done');

step('download the MP3');
// Focused first, then activated: the focus leaving the options form redraws the page below it,
// which can swallow a click that arrives in the same moment.
const downloadLink = row(VIDEO).getByRole('link', { name: /Download/ });
await downloadLink.focus();
await page.waitForTimeout(300);
const [download] = await Promise.all([page.waitForEvent('download'), downloadLink.click()]);
assert.match(download.suggestedFilename(), /\.mp3$/, download.suggestedFilename());
const mp3Path = path.join(OUT, 'download.mp3');
await download.saveAs(mp3Path);
const mp3 = await fs.readFile(mp3Path);
const id3 = mp3.subarray(0, 3).toString('latin1') === 'ID3';
const frameSync = mp3[0] === 0xff && (mp3[1] & 0xe0) === 0xe0;
assert.ok(id3 || frameSync, 'an MP3 starts with an ID3 tag or a frame sync');
// 3 s at 128 kbps is 48 000 bytes of audio, plus the tag and the info frame.
assert.ok(mp3.length > 44_000 && mp3.length < 56_000, `${mp3.length} bytes for 3 s at 128 kbps`);
const jobs = await apiFromPage('GET', '/api/v1/jobs');
const job = jobs.body.find((j) => j.original_name === VIDEO);
assert.equal(job.options.bitrate, 128, 'the chosen bitrate was sent');
assert.equal(job.audio_size, mp3.length);
assert.ok(Math.abs(job.duration_secs - 3) < 0.05, `the server says ${job.duration_secs} s`);
await fs.writeFile(path.join(OUT, 'job-id.txt'), job.id);
console.log(`  saved ${mp3Path} (${mp3.length} bytes)`);

step('import from a URL: refused addresses say why, a video converts');
await page.fill('#url-input', 'http://169.254.169.254/latest/meta-data/');
await page.click('#import-button');
await page.locator('#import-error', { hasText: 'link-local' }).waitFor();
await page.fill('#url-input', 'ftp://example.com/a.mp4');
await page.press('#url-input', 'Enter');
await page.locator('#import-error', { hasText: 'http:// or https://' }).waitFor();
const IMPORTED = IMPORT_URL.split('/').pop();
await page.fill('#url-input', IMPORT_URL);
await page.press('#url-input', 'Enter');
await waitForState(IMPORTED, 'done');
assert.equal(await page.inputValue('#url-input'), '', 'the field is cleared once the job exists');
assert.equal(await page.locator('#import-error').textContent(), '');
await screenshot('imported');

step('a file that is not a video is refused with the reason');
await page.selectOption('#bitrate', '192');
await page.setInputFiles('#file-input', fixture('not-media.pdf'));
await waitForState('not-media.pdf', 'failed');
// The server's reason, shown as a sentence like the page's own messages.
const refusal = await row('not-media.pdf').locator('.job-error').textContent();
assert.match(refusal, /^The file looks like .*not a video or audio file\.$/, refusal);
assert.equal(await row('not-media.pdf').getByRole('button', { name: /Retry/ }).count(), 0, 'no retry for a refused file');
await screenshot('not-media');

step('a file over the size limit says the limit in human units');
await page.setInputFiles('#file-input', fixture('m4a-alac.m4a'));
await waitForState('m4a-alac.m4a', 'failed');
const tooLarge = await row('m4a-alac.m4a').locator('.job-error').textContent();
assert.equal(tooLarge, 'The file is larger than the limit of 146.5 KiB.');
await row('m4a-alac.m4a').getByRole('button', { name: /Dismiss/ }).click();

step('an upload that cannot reach the server can be retried');
let cutOff = false;
await page.route(`${BASE}/api/v1/uploads`, (route) => {
  if (route.request().method() === 'POST' && !cutOff) {
    cutOff = true;
    return route.abort('connectionrefused');
  }
  return route.continue();
});
await page.setInputFiles('#file-input', fixture('mp4-aac-faststart.mp4'));
await waitForState('mp4-aac-faststart.mp4', 'failed');
assert.equal(await row('mp4-aac-faststart.mp4').locator('.job-error').textContent(), 'The server could not be reached.');
await screenshot('unreachable');
await page.unroute(`${BASE}/api/v1/uploads`);
await row('mp4-aac-faststart.mp4').getByRole('button', { name: /Retry/ }).click();
await waitForState('mp4-aac-faststart.mp4', 'done');

step('a video without sound fails with the reason');
await page.setInputFiles('#file-input', fixture('mp4-video-only.mp4'));
await waitForState('mp4-video-only.mp4', 'failed');
assert.equal(await row('mp4-video-only.mp4').locator('.job-error').textContent(), 'This video has no audio track.');
assert.ok(await row('mp4-video-only.mp4').locator('audio').count() === 0, 'no player for a failed job');

step('drop two files on the drop zone');
const dropped = [];
for (const name of ['ogg-vorbis.ogg', 'webm-vorbis.webm']) {
  dropped.push({ name, bytes: [...(await fs.readFile(fixture(name)))] });
}
const transfer = await page.evaluateHandle((files) => {
  const dt = new DataTransfer();
  for (const f of files) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
  return dt;
}, dropped);
await page.dispatchEvent('#drop', 'dragenter', { dataTransfer: transfer });
await page.dispatchEvent('#drop', 'dragover', { dataTransfer: transfer });
assert.ok(await page.$eval('#drop', (d) => d.classList.contains('over')), 'the zone shows the drag');
await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
await waitForState('ogg-vorbis.ogg', 'done');
await waitForState('webm-vorbis.webm', 'done');

step('another format: FLAC, which has no quality setting');
const LOSSLESS_SOURCE = 'mkv-flac.mkv';
await page.selectOption('#format', 'flac');
await page.selectOption('#loudness', '-16');
await page.fill('#tag-artist', 'Flow Artist');
await page.fill('#tag-date', '2024-05');
assert.ok(await page.$eval('#quality', (f) => f.disabled), 'the quality settings do not apply to FLAC');
await page.setInputFiles('#file-input', fixture(LOSSLESS_SOURCE));
await waitForState(LOSSLESS_SOURCE, 'done');
// The row reads the finished job's sizes once the event said it is done.
await row(LOSSLESS_SOURCE).locator('.job-meta', { hasText: / · FLAC \d+ KB · / }).waitFor();
const [flacDownload] = await Promise.all([
  page.waitForEvent('download'),
  row(LOSSLESS_SOURCE).getByRole('link', { name: /Download/ }).click(),
]);
assert.match(flacDownload.suggestedFilename(), /^mkv-flac\.flac$/, flacDownload.suggestedFilename());
const flacPath = path.join(OUT, 'download.flac');
await flacDownload.saveAs(flacPath);
const flacBytes = await fs.readFile(flacPath);
assert.equal(flacBytes.subarray(0, 4).toString('latin1'), 'fLaC');
assert.ok(flacBytes.includes(Buffer.from('ARTIST=Flow Artist')), 'the artist typed in is a Vorbis comment of the file');
const flacJob = (await apiFromPage('GET', '/api/v1/jobs')).body.find((j) => j.original_name === LOSSLESS_SOURCE);
assert.equal(flacJob.options.format, 'flac', 'the format was sent');
assert.equal(flacJob.options.bitrate, undefined, 'no bitrate is sent for a lossless format');
assert.equal(flacJob.options.loudness, -16, 'the loudness target was sent');
assert.deepEqual([flacJob.options.artist, flacJob.options.date], ['Flow Artist', '2024-05'], 'the tags were sent');
await page.fill('#tag-artist', '');
await page.fill('#tag-date', '');
await page.selectOption('#loudness', '');
await page.selectOption('#format', 'opus');
assert.ok(!(await page.$eval('#quality', (f) => f.disabled)), 'Opus has a bitrate');
assert.ok(await page.$eval('#mode-vbr', (r) => r.disabled), 'the VBR quality scale is MP3’s only');
await page.selectOption('#format', 'mp3');
assert.ok(!(await page.$eval('#mode-vbr', (r) => r.disabled)));

step('a cover picture: checked when chosen, sent with the upload, embedded in the MP3');
// A valid 1×1 PNG, written here.
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
await page.setInputFiles('#cover-file', { name: 'cover.txt', mimeType: 'text/plain', buffer: Buffer.from('no picture') });
await page.locator('#cover-file-error', { hasText: 'JPEG, PNG or WebP' }).waitFor();
await page.setInputFiles('#cover-file', { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(16 * 1024 * 1024 + 1) });
await page.locator('#cover-file-error', { hasText: 'at most 16 MiB' }).waitFor();
await page.setInputFiles('#cover-file', { name: 'cover.png', mimeType: 'image/png', buffer: TINY_PNG });
assert.equal(await page.locator('#cover-file-error').textContent(), '', 'a small PNG is fine');
assert.ok(await page.$eval('#cover-time', (f) => f.disabled), 'the cover comes from the picture or the video, not both');
assert.ok(await page.isVisible('#cover-file-clear'));
await screenshot('cover-picture');
// A WebM: only its audio is extracted and sent, with the picture.
const COVERED = 'webm-vorbis.webm';
await page.setInputFiles('#file-input', fixture(COVERED));
await waitForState(COVERED, 'done');
const coveredJob = (await apiFromPage('GET', '/api/v1/jobs')).body.find((j) => j.original_name === COVERED);
assert.equal(coveredJob.options.cover, true, 'the job has the picture as its cover');
assert.ok(coveredJob.source_size > coveredJob.video_size, 'only the audio was sent');
const hasApic = await page.evaluate(async (id) => {
  const res = await fetch(`/api/v1/jobs/${id}/audio`, { headers: { Authorization: `Bearer ${sessionStorage.getItem('mp3converter.token')}` } });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, 4096));
  return res.ok && text.startsWith('ID3') && text.includes('APIC');
}, coveredJob.id);
assert.ok(hasApic, 'the MP3 carries the picture (an ID3 APIC frame)');
await page.click('#cover-file-clear');
assert.equal(await page.$eval('#cover-file', (f) => f.files.length), 0, 'the picture is removed');
assert.ok(!(await page.$eval('#cover-time', (f) => f.disabled)));
assert.ok(!(await page.isVisible('#cover-file-clear')));

step('a preset fills in the options, and the job gets the server’s preset');
await page.selectOption('#preset', 'speech');
assert.equal(await page.inputValue('#format'), 'opus');
assert.equal(await page.inputValue('#bitrate'), '32');
assert.ok(await page.isChecked('#mono'));
assert.equal(await page.inputValue('#loudness'), '-16');
await page.setInputFiles('#file-input', fixture('mp4-aac-22k.mp4'));
await waitForState('mp4-aac-22k.mp4', 'done');
const speechJob = (await apiFromPage('GET', '/api/v1/jobs')).body.find((j) => j.original_name === 'mp4-aac-22k.mp4');
assert.deepEqual(
  { format: speechJob.options.format, bitrate: speechJob.options.bitrate, mono: speechJob.options.mono, loudness: speechJob.options.loudness },
  { format: 'opus', bitrate: 32, mono: true, loudness: -16 },
  'the speech preset',
);
await row('mp4-aac-22k.mp4').locator('.job-meta', { hasText: / · Opus \d+ KB · / }).waitFor();
await page.selectOption('#preset', '');
await page.selectOption('#format', 'mp3');
await page.selectOption('#bitrate', '192');
await page.uncheck('#mono');
await page.selectOption('#loudness', '');
await page.locator('#advanced summary').click(); // fold the options again for the overview
await screenshot('overview');
// The README's picture: the top of the page at a laptop's size.
await page.evaluate(() => window.scrollTo(0, 0));
await page.screenshot({ path: path.join(OUT, 'web-ui.png') });

step('the files page at every size, light and dark');
await checkEverySize('files');

step('deleting a failed job does not mention an MP3 it never had');
let question = null;
page.once('dialog', (d) => {
  question = d.message();
  d.accept();
});
await row('mp4-video-only.mp4').getByRole('button', { name: /Delete/ }).click();
await row('mp4-video-only.mp4').waitFor({ state: 'detached' });
assert.equal(question, 'Delete “mp4-video-only.mp4”?');

step('delete a job');
page.once('dialog', (d) => {
  question = d.message();
  d.accept();
});
await row('ogg-vorbis.ogg').getByRole('button', { name: /Delete/ }).click();
await row('ogg-vorbis.ogg').waitFor({ state: 'detached' });
const after = await apiFromPage('GET', '/api/v1/jobs');
assert.ok(!after.body.some((j) => j.original_name === 'ogg-vorbis.ogg'), 'deleted on the server');
assert.ok(after.body.some((j) => j.original_name === 'webm-vorbis.webm'), 'the other job is kept');
assert.equal(question, 'Delete “ogg-vorbis.ogg” and its MP3?');

step('leaving during an upload asks first, and a reload shows the interrupted upload');
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 * 1024 });
await page.setInputFiles('#file-input', fixture('mov-aac.mov'));
await waitForState('mov-aac.mov', /^uploading /);
const asks = await page.evaluate(() => {
  const e = new Event('beforeunload', { cancelable: true });
  window.dispatchEvent(e);
  return e.defaultPrevented;
});
assert.ok(asks, 'the page asks before it is left during an upload');
const leave = (d) => d.accept();
page.on('dialog', leave);
await page.reload();
page.off('dialog', leave);
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
await waitForState('mov-aac.mov', 'interrupted');
assert.equal(
  await row('mov-aac.mov').locator('.job-error').textContent(),
  'The page was left during the upload. Choose the file again to retry.',
);
await screenshot('interrupted');
const idle = await page.evaluate(() => {
  const e = new Event('beforeunload', { cancelable: true });
  window.dispatchEvent(e);
  return e.defaultPrevented;
});
assert.ok(!idle, 'no question when nothing is uploading');
await row('mov-aac.mov').getByRole('button', { name: /Dismiss/ }).click();
await page.reload();
await page.locator('#jobs-view').waitFor();
await row(VIDEO).waitFor();
assert.equal(await row('mov-aac.mov').count(), 0, 'a dismissed interruption is gone');

step('the same file chosen again after the reload resumes its upload (tus)');
const tusRequests = [];
const noteTus = (r) => {
  if (r.url().includes('/api/v1/uploads')) tusRequests.push(`${r.method()} ${r.headers()['upload-offset'] ?? ''}`.trim());
};
page.on('request', noteTus);
await page.setInputFiles('#file-input', fixture('mov-aac.mov'));
await waitForState('mov-aac.mov', 'done');
page.off('request', noteTus);
assert.ok(!tusRequests.includes('POST'), `no new upload was created: ${tusRequests}`);
assert.equal(tusRequests[0], 'HEAD', `it asked where the upload stood first: ${tusRequests}`);

step('an upload resumes by itself after the network drops');
tusRequests.length = 0;
page.on('request', noteTus);
// The first PATCH's connection is reset (as by a network drop); the page must ask where the
// upload stands and send the rest, with no click.
let patchCut = false;
await page.route(/\/api\/v1\/uploads\/[0-9a-f]+$/, (route) => {
  if (route.request().method() === 'PATCH' && !patchCut) {
    patchCut = true;
    return route.abort('connectionreset');
  }
  return route.continue();
});
await page.setInputFiles('#file-input', fixture('mkv-aac.mkv'));
await waitForState('mkv-aac.mkv', 'done');
await page.unroute(/\/api\/v1\/uploads\/[0-9a-f]+$/);
page.off('request', noteTus);
assert.ok(patchCut, 'the first PATCH was cut');
assert.ok(tusRequests.filter((r) => r.startsWith('PATCH')).length >= 2, `sent again after the drop: ${tusRequests}`);
assert.ok(tusRequests.includes('HEAD'), `asked the server where to resume: ${tusRequests}`);

step('the link in the email opens the job, after logging in');
const mailPage = await context.newPage();
await mailPage.goto(`${BASE}/#/jobs/${job.id}`);
await mailPage.locator('#login-view').waitFor();
await mailPage.fill('#login-email', ALICE.email);
await mailPage.fill('#login-password', ALICE.password);
await mailPage.press('#login-password', 'Enter');
const focused = mailPage.locator('li.job.focused');
await focused.waitFor();
assert.equal(await focused.getAttribute('data-id'), job.id);
assert.equal(await focused.locator('.job-name').textContent(), VIDEO);
await focused.locator('audio').waitFor();
await focused.getByRole('link', { name: /Download/ }).waitFor();
assert.equal(await mailPage.evaluate(() => location.hash), `#/jobs/${job.id}`);
await mailPage.close();

step('log out');
await logOut();
await page.reload();
await page.locator('#login-view').waitFor();
await screenshot('logged-out');

step('a second user sees none of the first user’s jobs');
await logIn(BOB);
await page.locator('#jobs-view').waitFor();
await page.locator('#jobs-empty').waitFor();
assert.equal(await page.locator('li.job').count(), 0);
const aliceJob = await apiFromPage('GET', `/api/v1/jobs/${job.id}`);
assert.equal(aliceJob.status, 404, 'another user’s job is not found');
await screenshot('second-user');
await page.goto(`${BASE}/#/all`);
await page.locator('#forbidden-view').waitFor();
assert.equal((await apiFromPage('GET', '/api/v1/jobs?owner=all')).status, 403, 'only admins list everyone’s jobs');
await page.goto(`${BASE}/#/users`);
await page.locator('#forbidden-view').waitFor();
await checkEverySize('forbidden');
await logOut();

step('an admin’s “Files” are their own; “All files” shows everyone’s with the owner');
await logIn(ADMIN);
// The address still says #/users from the last visit: the admin lands there.
await page.locator('#users-view').waitFor();
await page.click('#nav-jobs');
await page.locator('#jobs-empty').waitFor();
assert.equal(await page.textContent('#list-title'), 'Your files');
await page.click('#nav-all');
await row(VIDEO).waitFor();
assert.equal(await page.textContent('#list-title'), 'All files');
assert.match(await row(VIDEO).locator('.job-meta').textContent(), new RegExp(`^${ALICE.email.replace('.', '\\.')} · 0:03`));
await checkEverySize('all-files');

step('the page of one job');
await page.evaluate((id) => { location.hash = `#/jobs/${id}`; }, job.id);
await page.locator(`li.job.focused[data-id="${job.id}"]`).waitFor();
await checkEverySize('job');

step('an admin adds, disables and enables a user');
await page.click('#nav-users');
await page.locator('#users-view').waitFor();
const carol = { email: 'carol@example.com', password: 'carol-password-1' };
await page.fill('#user-email', carol.email);
await page.fill('#user-password', 'short');
await page.click('#user-form button[type="submit"]');
await page.locator('#user-error', { hasText: 'at least 8 characters' }).waitFor();
await page.fill('#user-password', carol.password);
await page.click('#user-form button[type="submit"]');
const carolRow = page.locator(`tr[data-email="${carol.email}"]`);
await carolRow.waitFor();
assert.match(await carolRow.textContent(), /UserActive/);
page.once('dialog', (d) => d.accept());
await carolRow.getByRole('button', { name: /Disable/ }).click();
await page.locator(`tr[data-email="${carol.email}"] td.disabled`).waitFor();
await checkEverySize('users');
await logOut();
await page.fill('#login-email', carol.email);
await page.fill('#login-password', carol.password);
await page.press('#login-password', 'Enter');
await page.locator('#login-error', { hasText: 'Wrong email or password.' }).waitFor();
await logIn(ADMIN);
await page.locator('#users-view').waitFor();
await carolRow.getByRole('button', { name: /Enable/ }).click();
await page.locator(`tr[data-email="${carol.email}"] td.disabled`).waitFor({ state: 'detached' });
assert.match(await carolRow.textContent(), /UserActive/);
await logOut();

step('API keys: create one, see its secret once, use it, revoke it');
await logIn(carol);
await page.click('#nav-keys');
await page.locator('#keys-view').waitFor();
await page.locator('#keys-empty').waitFor();
await page.fill('#key-name', 'backup script');
await page.check('#key-scope-write');
await page.click('#key-form button[type="submit"]');
await page.locator('#key-created').waitFor();
const secret = await page.textContent('#key-secret');
assert.match(secret, /^mp3c_[0-9A-Za-z]{49}$/);
const keyRow = page.locator('tr[data-name="backup script"]');
await keyRow.waitFor();
assert.match(await keyRow.textContent(), /jobs:read, jobs:write/);
assert.ok((await keyRow.textContent()).includes(`${secret.slice(0, 9)}…${secret.slice(-4)}`));
assert.ok(!(await page.locator('#keys').textContent()).includes(secret), 'the list never shows the secret');
const withKey = (k) => page.evaluate(async (key) => {
  const res = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json() };
}, k);
const viaKey = await withKey(secret);
assert.equal(viaKey.status, 200);
assert.equal(viaKey.body.email, carol.email, 'the key acts as its user');
await checkEverySize('keys');
page.once('dialog', (d) => d.accept());
await keyRow.getByRole('button', { name: /Revoke/ }).click();
await page.locator('#keys-empty').waitFor();
assert.equal((await withKey(secret)).status, 401, 'a revoked key stops at once');
await page.click('#nav-jobs');
await page.locator('#jobs-view').waitFor();
assert.ok(await page.locator('#key-created').isHidden(), 'the secret is gone after leaving the page');
await logOut();

step('the session ends: the page says so and keeps the chosen file and the page');
// Another server, whose tokens live SHORT_TTL seconds (another origin: a fresh session).
await page.goto(SHORT);
await logIn(ALICE);
await page.click('#advanced summary');
await page.selectOption('#bitrate', '96');
// The first upload is refused with 401, as when the server no longer accepts the token.
let refusedOnce = false;
await page.route(`${SHORT}/api/v1/uploads`, (route) => {
  if (route.request().method() === 'POST' && !refusedOnce) {
    refusedOnce = true;
    return route.fulfill({ status: 401, contentType: 'application/json', body: '{"code":"invalid-token","message":"not authorized"}' });
  }
  return route.continue();
});
await page.setInputFiles('#file-input', fixture(VIDEO));
await page.locator('#login-view').waitFor();
assert.match(await page.textContent('#session-note'), /^Your session has ended\. Your files and this page are kept/);
assert.equal(await page.isHidden('#nav'), true, 'the page no longer shows the user');
await screenshot('session-ended');
await page.unroute(`${SHORT}/api/v1/uploads`);
await logIn(ALICE);
await waitForState(VIDEO, 'done');
const short = (await apiFromPage('GET', '/api/v1/jobs')).body;
assert.equal(short.length, 1, 'the kept file was uploaded once');
assert.equal(short[0].options.bitrate, 96, 'with the options chosen before');
assert.equal(await page.inputValue('#bitrate'), '96', 'the options are still chosen');

step('the session expires on time: the page notices by itself and keeps the page');
await page.evaluate((id) => { location.hash = `#/jobs/${id}`; }, short[0].id);
await page.locator(`li.job.focused[data-id="${short[0].id}"]`).waitFor();
// Nothing is clicked: the page ends the session at the token's expiry time.
await page.locator('#login-view').waitFor({ timeout: (SHORT_TTL + 10) * 1000 });
assert.match(await page.textContent('#session-note'), /^Your session has expired\./);
await screenshot('session-expired');
await logIn(ALICE);
await page.locator(`li.job.focused[data-id="${short[0].id}"]`).waitFor();
assert.equal(await page.evaluate(() => location.hash), `#/jobs/${short[0].id}`);
await row(VIDEO).locator('audio').waitFor();

await browser.close();
assert.deepEqual(problems, [], 'the page logged errors');
assert.ok(requested.some((u) => u.includes('/audio?') && u.includes('sig=')), 'the player used a signed URL');
assert.ok(requested.some((u) => u.endsWith('/api/v1/events')), 'the page followed the event stream');
const leaks = requested.filter((u) => u.includes('access_token') || /[?&](token|jwt)=/.test(u));
assert.deepEqual(leaks, [], 'no URL carries the token');
console.log(`browser flow passed; screenshots in ${OUT}`);
