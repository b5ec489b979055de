// Browser half of bench/extract.sh: in Debian's Chromium (playwright-core from tests/browser),
// with the upload throttled to MBIT Mbit/s by CDP, each FILE is chosen in the page with audio
// extraction on and off; prints one TSV line per run: file, mode, file bytes, bytes sent
// (the upload's Upload-Length), seconds from choosing the file to the job's `done`.
//
//   MP3C_URL=… MP3C_EMAIL=… MP3C_PASSWORD=… MBIT=20 node bench/extract.mjs FILE...

import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const BASE = process.env.MP3C_URL.replace(/\/$/, '');
const MBIT = Number(process.env.MBIT ?? 20);
const files = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.MP3C_TEST_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await (await browser.newContext()).newPage();
page.setDefaultTimeout(30 * 60 * 1000);
await page.goto(BASE);
await page.fill('#login-email', process.env.MP3C_EMAIL);
await page.fill('#login-password', process.env.MP3C_PASSWORD);
await page.press('#login-password', 'Enter');
await page.locator('#nav').waitFor();

const cdp = await page.context().newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.emulateNetworkConditions', {
  offline: false,
  latency: 20,
  downloadThroughput: -1,
  uploadThroughput: (MBIT * 1_000_000) / 8,
});
let sent = 0;
page.on('request', (r) => {
  if (r.method() === 'POST' && r.url().endsWith('/api/v1/uploads')) sent = Number(r.headers()['upload-length']);
});

console.log('file\tmode\tfile_bytes\tsent_bytes\tseconds');
for (const file of files) {
  const name = path.basename(file);
  const size = (await fs.stat(file)).size;
  for (const extract of [true, false]) {
    // A fresh page each time: no row of the same name from the previous run.
    await page.goto(`${BASE}/#/`);
    await page.reload();
    await page.locator('#nav').waitFor();
    if (!(await page.locator('#advanced').evaluate((d) => d.open))) await page.click('#advanced summary');
    await page.setChecked('#extract-audio', extract);
    const started = performance.now();
    await page.setInputFiles('#file-input', file);
    await page.waitForFunction((n) => {
      const li = [...document.querySelectorAll('li.job')].find((el) => el.querySelector('.job-name')?.textContent === n);
      const state = li?.querySelector('.job-state')?.textContent ?? '';
      if (state === 'failed') throw new Error(`${n} failed: ${li.querySelector('.job-error')?.textContent}`);
      return state === 'done';
    }, name, { polling: 100 });
    const seconds = (performance.now() - started) / 1000;
    console.log(`${name}\t${extract ? 'extracted' : 'whole'}\t${size}\t${sent}\t${seconds.toFixed(1)}`);
    // The next run must not find this job's row: delete it through the API.
    await page.evaluate(async () => {
      const token = sessionStorage.getItem('mp3converter.token');
      const headers = { Authorization: `Bearer ${token}` };
      const jobs = await (await fetch('/api/v1/jobs', { headers })).json();
      for (const job of jobs) await fetch(`/api/v1/jobs/${job.id}`, { method: 'DELETE', headers });
    });
  }
}
await browser.close();
