// Drives the admin console (`GET /console`) in Debian's headless Chromium with playwright-core:
// signs in with the admin key pair, picks the API, stage and route, waits until the charts have
// drawn points, saves a screenshot and prints what the page plotted as one JSON line.
//
// Env: CONSOLE_URL (http://admin/console), ACCESS_KEY_ID, SECRET_ACCESS_KEY, API_NAME, STAGE,
// ROUTE_KEY, SCREENSHOT (png path), CHROMIUM (default /usr/bin/chromium), WANT_POINTS (default 2).
import { chromium } from 'playwright-core';

const env = (k, d) => process.env[k] ?? d;
const deadlineMs = 60_000;

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  timeout: 30_000,
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.setDefaultTimeout(deadlineMs);

  await page.goto(env('CONSOLE_URL'));
  // The page asks for the key first (the gateway has admin credentials).
  await page.locator('#login').waitFor({ state: 'visible' });
  const loginShown = true;
  await page.fill('#akid', env('ACCESS_KEY_ID'));
  await page.fill('#secret', env('SECRET_ACCESS_KEY'));
  // The 403s of the unsigned first calls (which made the page ask for the key) are expected.
  consoleErrors.length = 0;
  await page.click('#signin');
  await page.locator('#app').waitFor({ state: 'visible' });

  await page.locator('#apis li', { hasText: env('API_NAME') }).first().click();
  await page.locator('#stages li', { hasText: env('STAGE') }).first().click();
  await page.locator(`#routes li[data-name="${env('ROUTE_KEY')}"]`).click();

  const want = Number(env('WANT_POINTS', '2'));
  await page.waitForFunction((want) => {
    const c = window.porticoConsole;
    const lat = c && c.plotted['chart-latency'];
    const hist = c && c.plotted['chart-histogram'];
    return lat && hist && c.route && lat[1].filter((v) => v != null).length >= want && hist[0].length > 0;
  }, want, { timeout: deadlineMs, polling: 250 });
  // One more refresh so the figures and the charts come from the same poll.
  await page.waitForTimeout(1200);

  const result = await page.evaluate(() => {
    const c = window.porticoConsole;
    const canvases = Array.from(document.querySelectorAll('.chart canvas')).map((cv) => ({
      width: cv.width,
      height: cv.height,
      // Non-blank: some pixel differs from the first one.
      drawn: (() => {
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        for (let i = 4; i < d.length; i += 4) {
          if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2] || d[i + 3] !== d[3]) return true;
        }
        return false;
      })(),
    }));
    return {
      plotted: c.plotted,
      route: c.route,
      histograms: c.histograms,
      errors: c.errors,
      draws: c.draws,
      canvases,
      title: document.getElementById('title').textContent,
      summary: document.getElementById('summary').innerText,
    };
  });
  await page.screenshot({ path: env('SCREENSHOT'), fullPage: true });
  result.loginShown = loginShown;
  result.consoleErrors = consoleErrors;
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await browser.close();
}
