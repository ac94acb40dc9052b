// Shared harness for the browser tests (tests/support/browser.py runs the scripts that use it):
// launches headless Chromium, records what the page did, runs the script's steps, and always prints
// one JSON report on stdout, also when a step fails, so a failure (or a flake) can be diagnosed from
// the test's output alone.
//
// The report holds what the steps put in it, and:
//   consoleErrors   the page's console errors and uncaught exceptions (a test asserts there are none)
//   console         every console message, with the resource it names ("Failed to load resource"
//                   says which status but not which URL; `where` does)
//   httpErrors      every response with status >= 400: method, URL, status, milliseconds since start
//   failedRequests  every request that got no response (aborted by Stop, refused, …)
//   network         the requests to the app, in order: method, URL, status or failure, milliseconds
//   error           the failed step's error and stack (the script then exits 1)
//   pageText        on failure, the page's visible text
//   step            the step the script said it was on (it sets report.step)
//
// Usage from a script: `await drive(chromiumPath, async (page, report) => { … })`.
import { chromium } from "playwright-core";

export const STEP_MS = 60_000; // a ceiling on a loaded machine, not a speed

export async function drive(executablePath, steps) {
  const started = Date.now();
  const at = () => Date.now() - started;
  const report = { consoleErrors: [], console: [], httpErrors: [], failedRequests: [], network: [] };
  let browser, page;
  try {
    browser = await chromium.launch({
      executablePath,
      // Root in a container has no user namespaces for Chromium's sandbox; the page is our own.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on("console", (message) => {
      const where = message.location();
      report.console.push({ type: message.type(), text: message.text(), where: where && where.url, ms: at() });
      if (message.type() === "error") report.consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => {
      report.consoleErrors.push(String(error));
      report.console.push({ type: "pageerror", text: String(error.stack || error), ms: at() });
    });
    page.on("response", (response) => {
      const request = response.request();
      const entry = { method: request.method(), url: response.url(), status: response.status(), ms: at() };
      if (!response.url().startsWith("data:")) report.network.push(entry);
      if (response.status() >= 400) report.httpErrors.push(entry);
    });
    page.on("requestfailed", (request) => {
      const failure = request.failure();
      const entry = { method: request.method(), url: request.url(), failure: failure && failure.errorText, ms: at() };
      report.network.push(entry);
      report.failedRequests.push(entry);
    });
    await steps(page, report);
  } catch (error) {
    report.error = String((error && error.stack) || error);
    process.exitCode = 1;
    // What a person would have seen when the step gave up.
    if (page) report.pageText = await page.evaluate(() => document.body.innerText).catch(String);
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(report));
}
