// End-to-end test of `vaultfs web` in a real browser: Debian's Chromium (/usr/bin/chromium,
// headless) driven by playwright-core, which never downloads a browser of its own. Run by
// web_e2e_test.cc against a real cluster and gateway; it can also be run by hand:
//
//   WEB_URL=http://127.0.0.1:8080 WEB_USER=alice WEB_PASSWORD=... WEB_WORK_DIR=/tmp/w \
//   WEB_SCREENSHOT_DIR=/tmp/shots WEB_CLI_FILE=/from-cli.bin node tests/web/e2e.mjs
//
// WEB_WORK_DIR must hold small.txt and big.bin (the files to upload) and from-cli.bin (a copy
// of what the CLI stored at WEB_CLI_FILE, in the vault's root). Each step waits on a
// condition with a generous deadline; nothing sleeps. Exit status 0 means every check passed.
import { createHash } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const URL = env('WEB_URL');
const USER = env('WEB_USER');
const PASSWORD = env('WEB_PASSWORD');
const WORK = env('WEB_WORK_DIR');
const SHOTS = env('WEB_SCREENSHOT_DIR');
const CLI_FILE = env('WEB_CLI_FILE');
const TIMEOUT = 60_000;  // per step: generous for a loaded 2-core machine

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
let step = 'start';
const log = (s) => { step = s; console.log(`e2e: ${s}`); };
function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

// Names of the file rows, in the order the table shows them.
const rowNames = (page) => page.$$eval('#rows tr', (rows) => rows.map((r) => r.dataset.name));

async function promptAndConfirm(page, opener, value) {
  await page.click(opener);
  await page.locator('#prompt-dialog[open]').waitFor();
  await page.fill('#prompt-input', value);
  await page.click('#prompt-ok');
  await page.locator('#prompt-dialog').waitFor({ state: 'hidden' });
}

async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const failure = await dl.failure();
  check(failure === null, `download failed: ${failure}`);
  return { name: dl.suggestedFilename(), bytes: readFileSync(await dl.path()) };
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const small = readFileSync(join(WORK, 'small.txt'));
  const big = readFileSync(join(WORK, 'big.bin'));
  const fromCli = readFileSync(join(WORK, 'from-cli.bin'));

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  try {
    const context = await browser.newContext({
      acceptDownloads: true, viewport: { width: 1100, height: 700 }, locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    log('the login page');
    await page.goto(URL);
    await page.locator('#login-form').waitFor();
    await page.screenshot({ path: join(SHOTS, 'web-login.png') });

    log('a wrong password shows an error');
    await page.fill('#login-user', USER);
    await page.fill('#login-password', 'not the password');
    await page.click('#login-submit');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    const err = await page.textContent('#login-error');
    check(/wrong user name or password/.test(err), `login error text: ${err}`);
    check(await page.isHidden('#files-view'), 'the files view stays hidden');

    log('log in');
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-submit');
    await page.locator('#files-view').waitFor({ state: 'visible' });
    check((await page.textContent('#who')) === USER, 'the user name is shown');
    // The cookie's name carries the gateway's port: cookies reach every port of 127.0.0.1.
    const cookieName = `vaultfs_session_${URL.match(/:(\d+)\/?$/)[1]}`;
    const cookie = (await context.cookies()).find((c) => c.name === cookieName);
    check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.path === '/',
      `session cookie ${cookieName}: ${JSON.stringify((await context.cookies()).map((c) => ({ ...c, value: '...' })))}`);
    check(await page.evaluate(() => !document.cookie.includes('vaultfs_session')),
      'script on the page cannot read the session cookie');

    log('the CSRF token comes only with the login; a reload keeps this tab working');
    const who = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
    check(who.user === USER && !('csrf' in who), `GET /api/session answered ${JSON.stringify(who)}`);
    await page.reload();
    await page.locator('#files-view').waitFor({ state: 'visible' });
    await promptAndConfirm(page, '#new-folder', 'after-reload');
    await page.locator('tr[data-name="after-reload"][data-type="dir"]').waitFor();
    const other = await context.newPage();
    other.setDefaultTimeout(TIMEOUT);
    await other.goto(URL);
    await other.locator('#login-form').waitFor({ state: 'visible' });
    check(/log in/i.test(await other.textContent('#login-error')),
      'a new tab, which holds no token, asks to log in');
    await other.close();

    log('the cluster health line');
    await page.waitForFunction(
      () => /\d+ of \d+ data servers up .* degraded .* repair queue: \d+/
        .test(document.getElementById('health').textContent), null, { timeout: TIMEOUT });

    log('create a folder');
    await promptAndConfirm(page, '#new-folder', 'webtest');
    await page.locator('tr[data-name="webtest"][data-type="dir"]').waitFor();

    log('open it (breadcrumbs)');
    await page.click('tr[data-name="webtest"] a.open');
    await page.waitForFunction(() => location.hash === '#/webtest');
    await page.locator('#breadcrumbs .current', { hasText: 'webtest' }).waitFor();
    await page.locator('#empty').waitFor({ state: 'visible' });

    log('upload two files at once through the file picker');
    // Watch the progress bar: it must move while the request is under way.
    await page.evaluate(() => {
      window.__progress = [];
      const bar = document.getElementById('upload-progress');
      const status = document.getElementById('upload-status');
      new MutationObserver(() => { if (!status.hidden) window.__progress.push(bar.value); })
        .observe(status, { attributes: true });
      const timer = setInterval(() => {
        if (!status.hidden) window.__progress.push(bar.value);
        if (window.__progressDone) clearInterval(timer);
      }, 10);
    });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'),
      page.click('#upload-button')]);
    check(chooser.isMultiple(), 'the file picker takes several files');
    await chooser.setFiles([join(WORK, 'small.txt'), join(WORK, 'big.bin')]);
    await page.locator('tr[data-name="small.txt"]').waitFor();
    await page.locator('tr[data-name="big.bin"]').waitFor();
    await page.locator('#message', { hasText: 'Uploaded' }).waitFor();
    const progress = await page.evaluate(() => { window.__progressDone = true; return window.__progress; });
    check(progress.length > 0, 'the progress bar was shown during the upload');
    const bigSize = await page.getAttribute('tr[data-name="big.bin"] td.size', 'title');
    check(bigSize === `${big.length} bytes`, `big.bin is listed with its size (${bigSize})`);

    log('upload a third file by drag and drop');
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped by drag and drop\n'], 'dropped.txt', { type: 'text/plain' }));
      const zone = document.getElementById('drop-zone');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    });
    await page.locator('tr[data-name="dropped.txt"]').waitFor();

    log('a folder inside the folder');
    await promptAndConfirm(page, '#new-folder', 'photos');
    await page.locator('tr[data-name="photos"][data-type="dir"]').waitFor();

    log('sort by size, both ways (folders stay first)');
    await page.click('th[data-sort="size"] button');
    await page.locator('th[data-sort="size"][aria-sort="ascending"]').waitFor();
    let order = await rowNames(page);
    check(JSON.stringify(order) === JSON.stringify(['photos', 'small.txt', 'dropped.txt', 'big.bin']),
      `ascending by size: ${order}`);
    await page.click('th[data-sort="size"] button');
    await page.locator('th[data-sort="size"][aria-sort="descending"]').waitFor();
    order = await rowNames(page);
    check(JSON.stringify(order) === JSON.stringify(['photos', 'big.bin', 'dropped.txt', 'small.txt']),
      `descending by size: ${order}`);
    await page.click('th[data-sort="name"] button');
    await page.locator('th[data-sort="name"][aria-sort="ascending"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'web-directory.png') });

    log('download big.bin and compare bytes');
    const got = await download(page, 'tr[data-name="big.bin"] a.download');
    check(got.name === 'big.bin', `download name ${got.name}`);
    check(got.bytes.length === big.length && sha256(got.bytes) === sha256(big),
      `downloaded big.bin differs (${got.bytes.length} bytes vs ${big.length})`);

    log('rename small.txt');
    await promptAndConfirm(page, 'tr[data-name="small.txt"] button.rename', 'renamed.txt');
    await page.locator('tr[data-name="renamed.txt"]').waitFor();
    await page.locator('tr[data-name="small.txt"]').waitFor({ state: 'detached' });
    const renamed = await download(page, 'tr[data-name="renamed.txt"] a.get');  // the action
    check(sha256(renamed.bytes) === sha256(small), 'the renamed file keeps its content');

    log('delete asks first; Cancel keeps the file');
    await page.click('tr[data-name="renamed.txt"] button.delete');
    await page.locator('#confirm-dialog[open]').waitFor();
    check(/renamed\.txt/.test(await page.textContent('#confirm-text')), 'the dialog names the file');
    await page.click('#confirm-cancel');
    await page.locator('#confirm-dialog').waitFor({ state: 'hidden' });
    check((await rowNames(page)).includes('renamed.txt'), 'cancel kept the file');

    log('delete, confirmed');
    await page.click('tr[data-name="renamed.txt"] button.delete');
    await page.locator('#confirm-dialog[open]').waitFor();
    await page.click('#confirm-ok');
    await page.locator('tr[data-name="renamed.txt"]').waitFor({ state: 'detached' });

    log('names are shown as text, never as HTML');
    const evil = '<img src=x onerror="window.__xss=1">';
    await promptAndConfirm(page, '#new-folder', evil);
    await page.locator('#rows tr[data-type="dir"] a.open', { hasText: evil }).waitFor();
    check(await page.evaluate(() => window.__xss === undefined && !document.querySelector('#rows img')),
      'a folder name was interpreted as HTML');

    log('a request without the CSRF token is refused');
    const refused = await page.evaluate(async () => {
      const post = (headers) => fetch('/api/mkdir', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ dir: '/', name: 'csrf-probe' }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
      return [await post({}), await post({ 'X-CSRF-Token': 'f'.repeat(64) })];
    });
    check(refused[0].status === 403 && /CSRF/.test(refused[0].body.error),
      `no token: ${JSON.stringify(refused[0])}`);
    check(refused[1].status === 403, `wrong token: ${JSON.stringify(refused[1])}`);

    log('a file the CLI stored downloads through the gateway');
    await page.click('#breadcrumbs a');  // "My vault"
    await page.waitForFunction(() => location.hash === '#/');
    const cliName = CLI_FILE.replace(/^\//, '');
    check(!(await rowNames(page)).includes('csrf-probe'), 'the refused request made no folder');
    const viaCli = await download(page, `tr[data-name="${cliName}"] a.download`);
    check(sha256(viaCli.bytes) === sha256(fromCli),
      `the CLI's file differs (${viaCli.bytes.length} bytes vs ${fromCli.length})`);

    log('log out');
    await page.click('#logout');
    await page.locator('#login-form').waitFor({ state: 'visible' });
    const after = await page.evaluate(() => fetch('/api/list?path=/').then((r) => r.status));
    check(after === 401, `after logout the API answers ${after}`);
    check(pageErrors.length === 0, `script errors on the page: ${pageErrors.join('; ')}`);
  } finally {
    await browser.close();
  }
}

main().then(() => {
  console.log('e2e: all checks passed');
}, (e) => {
  console.error(`e2e: FAILED at step "${step}": ${e.stack || e}`);
  process.exit(1);
});
