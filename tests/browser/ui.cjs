// Drives the web UI of `conduit serve` in headless Chromium, as a person
// would, and checks the files on disk after each step.
//
// Run by a Rust test as `node tests/browser/ui.cjs`, with NODE_PATH at a
// node_modules holding playwright-core and:
//   CONDUIT_URL    the server's URL (http://127.0.0.1:PORT/)
//   CONDUIT_KEY    its API key
//   CONDUIT_WORK   a folder with src/ (notes.txt = "hello\n", docs/report.txt,
//                  big.bin of 64 MiB) and an empty dst/
//   CONDUIT_SHOTS  where the screenshots go
//   CHROMIUM       the chromium binary
// Prints one line per step passed; exits 1 with the reason on stderr.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const URL = env('CONDUIT_URL');
const KEY = env('CONDUIT_KEY');
const WORK = env('CONDUIT_WORK');
const SHOTS = env('CONDUIT_SHOTS');
const SRC = path.join(WORK, 'src');
const DST = path.join(WORK, 'dst');
const MiB = 1024 * 1024;

function check(ok, message) {
  if (!ok) throw new Error(message);
}

function read(file) {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
}

function checkContent(file, expected) {
  const actual = read(file);
  check(actual === expected, `${file} should hold ${JSON.stringify(expected)}, holds ${JSON.stringify(actual)}`);
}

const shot = (name) => path.join(SHOTS, name);

function passed(step) {
  console.log(`ok ${step}`);
}

/** Pick a folder with the "Sync To..." dialog's folder browser: type the
 * path in its path box, Go, wait until it shows that folder, Choose. */
async function pickFolder(page, which, folder) {
  await page.getByRole('button', { name: `Browse ${which} folder` }).click();
  const browser = page.getByRole('dialog', { name: `Choose the ${which} folder` });
  await browser.getByLabel('Folder path', { exact: true }).fill(folder);
  await browser.getByRole('button', { name: 'Go', exact: true }).click();
  // The server may name the folder by its real path (e.g. /tmp a symlink).
  const names = [folder, fs.realpathSync(folder)];
  const current = browser.getByLabel('Current folder', { exact: true });
  await page.waitForFunction(
    ([node, wanted]) => wanted.includes(node.value),
    [await current.elementHandle(), names],
  );
  await browser.getByRole('button', { name: 'Choose this folder' }).click();
  await browser.waitFor({ state: 'hidden' });
  const field = page.getByRole('dialog', { name: 'Sync To...' })
    .getByLabel(which === 'source' ? 'Source folder' : 'Destination folder', { exact: true });
  const chosen = await field.inputValue();
  check(names.includes(chosen), `the ${which} field holds ${chosen}, not ${folder}`);
}

async function main(page) {
  const failures = [];
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    // Answers such as the wrong key's 401 are logged as "Failed to load
    // resource"; anything else (a CSP refusal above all) is a fault.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      failures.push(`console: ${msg.text()}`);
    }
  });
  const panel = page.locator('#panel');
  const card = panel.locator('article[data-conduit="web"]');
  const manage = page.locator('#manage[data-conduit="web"]');

  // a. Log in: a wrong key is refused with a hint, the right one lets in.
  await page.goto(URL);
  await page.getByLabel('API key', { exact: true }).fill('not-the-key');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText("That key is not this server's").waitFor();
  await page.getByLabel('API key', { exact: true }).fill(KEY);
  await page.getByRole('button', { name: 'Log in' }).click();
  await panel.getByText('No conduits yet').waitFor();
  passed('a: login refuses a wrong key, then shows the empty state');

  // b. Sync To...: pick the folders, preview, create.
  await page.getByRole('button', { name: 'Sync To...' }).click();
  const dialog = page.getByRole('dialog', { name: 'Sync To...' });
  await pickFolder(page, 'source', SRC);
  await pickFolder(page, 'destination', DST);
  await dialog.getByLabel('Name', { exact: true }).fill('web');
  await dialog.getByLabel('Policy', { exact: true }).selectOption('synchronize');
  // Conflicts left for the user (synchronize keeps both by default), for step d.
  await dialog.getByLabel('conflict', { exact: true }).selectOption('manual');
  await dialog.getByLabel('Cadence', { exact: true }).selectOption('manual');
  await dialog.getByRole('button', { name: 'Preview' }).click();
  const plan = dialog.getByRole('region', { name: 'Preview' });
  // The dry run scans and hashes both sides (64 MiB): give it time.
  await plan.locator('[data-action="copy"]').getByText('notes.txt', { exact: true }).waitFor({ timeout: 120000 });
  await dialog.screenshot({ path: shot('sync-to.png') });
  await dialog.getByRole('button', { name: 'Create' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: 120000 });
  await card.waitFor();
  check(!fs.existsSync(path.join(DST, 'notes.txt')), 'preview or create copied notes.txt already');
  check(fs.existsSync(path.join(DST, '.conduit')), 'the destination has no .conduit marker');
  passed('b: Sync To... previews the plan and creates the conduit "web"');

  // c. The first run, followed live to 100%.
  await card.getByRole('button', { name: 'Sync now' }).click();
  await card.getByText(/^100%/).waitFor({ timeout: 120000 });
  // The card's last sync shows the run once it has ended and is recorded.
  await card.locator('[data-field="last-sync"]', { hasText: '(run 1)' }).waitFor({ timeout: 120000 });
  await page.screenshot({ path: shot('status.png'), fullPage: true });
  checkContent(path.join(DST, 'notes.txt'), 'hello\n');
  const big = path.join(DST, 'big.bin');
  check(fs.existsSync(big) && fs.statSync(big).size === 64 * MiB, 'dst/big.bin is not 64 MiB');
  check(fs.existsSync(path.join(DST, 'docs', 'report.txt')), 'dst/docs/report.txt is missing');
  passed('c: Sync now copies everything and the card reaches 100%');

  // d. A conflict: both sides edit notes.txt; keep the source's version.
  fs.writeFileSync(path.join(SRC, 'notes.txt'), 'source edit\n');
  fs.writeFileSync(path.join(DST, 'notes.txt'), 'destination edit\n');
  const soon = Date.now() / 1000 + 5;
  fs.utimesSync(path.join(SRC, 'notes.txt'), soon, soon);
  fs.utimesSync(path.join(DST, 'notes.txt'), soon + 3, soon + 3);
  await card.getByRole('button', { name: 'Sync now' }).click();
  await card.getByText('1 open conflict', { exact: true }).waitFor({ timeout: 120000 });
  await card.getByRole('button', { name: 'Manage' }).click();
  await manage.getByRole('tab', { name: 'Conflicts' }).click();
  const conflict = manage.locator('article.conflict[data-path="notes.txt"]');
  await conflict.waitFor();
  await conflict.getByRole('heading', { name: 'Source' }).waitFor();
  await conflict.getByRole('heading', { name: 'Destination' }).waitFor();
  await conflict.getByText('12 B', { exact: true }).waitFor(); // "source edit\n"
  await conflict.getByText('17 B', { exact: true }).waitFor(); // "destination edit\n"
  await page.screenshot({ path: shot('manage.png'), fullPage: true });
  await conflict.getByRole('button', { name: 'Keep source' }).click();
  await manage.getByText('No open conflicts.', { exact: true }).waitFor();
  checkContent(path.join(SRC, 'notes.txt'), 'source edit\n');
  checkContent(path.join(DST, 'notes.txt'), 'source edit\n');
  passed('d: a conflict shows both sides and "Keep source" settles it');

  // e. The destination's version went to the trash: restore it.
  await manage.getByRole('tab', { name: 'Trash' }).click();
  const row = manage.locator('tr[data-path="notes.txt"][data-side="destination"]').first();
  await row.waitFor();
  await row.getByRole('button', { name: 'Restore' }).click();
  await manage.getByText(/^Restored notes\.txt/).waitFor();
  checkContent(path.join(SRC, 'notes.txt'), 'destination edit\n');
  checkContent(path.join(DST, 'notes.txt'), 'destination edit\n');
  passed('e: Restore brings the trashed version back on both sides');

  // f. The status panel at phone width.
  await manage.getByRole('button', { name: 'Back' }).click();
  await card.waitFor();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: shot('status-phone.png'), fullPage: true });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `at 390 px wide the page scrolls sideways (${width} px)`);
  passed('f: the status panel fits a phone screen');

  check(failures.length === 0, `the page reported errors:\n${failures.join('\n')}`);
}

async function run() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(30000);
    page = await context.newPage();
    await main(page);
  } catch (e) {
    // What the page looked like when it went wrong.
    if (page) await page.screenshot({ path: shot('failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

run().catch((e) => {
  console.error(`browser test failed: ${e.stack || e}`);
  process.exitCode = 1;
});
