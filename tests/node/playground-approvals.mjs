// Drives the playground's tool approvals in headless Chromium, as a person would, and prints what it
// saw as JSON on stdout (tests/test_playground_approvals_browser.py asserts on it): approve a call,
// deny one with a reason, watch an approved tool's progress bar (the tool waits until this script
// puts its release file into the user's file space), and answer a card restored after a reload.
// Any step that does not happen within its timeout fails the run with a message on stderr.
//
// Usage: node playground-approvals.mjs CHROMIUM_PATH BASE_URL USER APPROVE_ID DENY_ID RELOAD_ID
import { chromium } from "playwright-core";

const [executablePath, baseUrl, user, approveId, denyId, reloadId] = process.argv.slice(2);
const STEP_MS = 90_000; // a ceiling on a loaded machine, not a speed

const report = { consoleErrors: [], chatBodies: [] };
const browser = await chromium.launch({
  executablePath,
  // Root in a container has no user namespaces for Chromium's sandbox; the page is our own.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const page = await browser.newPage();
try {
  page.setDefaultTimeout(STEP_MS);
  page.on("console", (message) => {
    if (message.type() === "error") report.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => report.consoleErrors.push(String(error.stack || error)));
  page.on("request", (request) => {
    if (request.url().endsWith("/api/agents/chat")) report.chatBodies.push(JSON.parse(request.postData()));
  });

  const assistants = page.locator(".msg.assistant");
  const last = () => assistants.last();
  const card = () => last().locator(".approval");
  const send = async (text) => {
    await page.fill("#input", text);
    await page.press("#input", "Enter");
  };
  // The answer has ended: its final text is shown and the page is ready for the next message.
  const answered = async () => {
    await last().locator(".text", { hasText: "done:" }).waitFor();
    await page.locator("#stop").waitFor({ state: "hidden" });
  };
  const seen = async () => ({
    id: await last().getAttribute("data-id"),
    assistants: await assistants.count(),
    tools: await last().locator(".tool summary").allTextContents(),
    outputs: await last().locator(".tool .output").allTextContents(),
    verdicts: await last().locator(".verdict").allTextContents(),
    texts: await last().locator(".text").allTextContents(),
    cards: await page.locator(".approval").count(),
    bars: await page.locator(".progress").count(),
  });
  const cardSeen = async () => ({
    id: await last().getAttribute("data-id"),
    assistants: await assistants.count(),
    question: await card().locator(".question").textContent(),
    arguments: await card().locator(".arguments").textContent(),
    buttons: await card().locator("button").allTextContents(),
  });

  await page.goto(baseUrl + "/");
  await page.fill("#user", user);
  await page.click("#mint");
  await page.locator("#who", { hasText: user }).waitFor();
  // Signed in once the list has loaded (it holds the conversation the test set up).
  await page.locator("#conversations li").first().waitFor();

  // 1. Approve: the card shows the call; the answer goes on in the same message.
  await send(`delete ${approveId}`);
  await card().waitFor();
  await page.locator("#stop").waitFor({ state: "hidden" });
  report.approveCard = await cardSeen();
  await card().locator("button.approve").click();
  await answered();
  report.approved = await seen();

  // 2. Deny, with a reason.
  await send(`delete ${denyId}`);
  await card().waitFor();
  await page.locator("#stop").waitFor({ state: "hidden" });
  report.denyCard = await cardSeen();
  await card().locator("input.reason").fill("keep it");
  await card().locator("button.deny").click();
  await answered();
  report.denied = await seen();

  // 3. Progress: the approved tool reports 1 of 2 and waits for its release file.
  await send("mop please");
  await card().waitFor();
  await page.locator("#stop").waitFor({ state: "hidden" });
  await card().locator("button.approve").click();
  const bar = last().locator(".progress");
  await bar.waitFor();
  report.progress = {
    text: await bar.locator(".progress-text").textContent(),
    value: await bar.locator("progress").evaluate((element) => [element.value, element.max]),
    tools: await last().locator(".tool summary").allTextContents(),
  };
  const released = await page.evaluate(async () => {
    const token = localStorage.getItem("chatgate.playground.token");
    const response = await fetch("/api/files/mop-release.txt", {
      method: "PUT",
      headers: { Authorization: "Bearer " + token },
      body: "go",
    });
    return response.status;
  });
  if (released !== 201) throw new Error(`the release file was not stored: HTTP ${released}`);
  await answered();
  report.afterProgress = await seen();

  // 4. A card waiting when the page is reloaded comes back from the server, and works.
  await send(`delete ${reloadId}`);
  await card().waitFor();
  await page.locator("#stop").waitFor({ state: "hidden" });
  report.beforeReload = await cardSeen();
  await page.reload();
  await card().waitFor();
  report.restoredCard = await cardSeen();
  await card().locator("button.approve").click();
  await answered();
  report.afterRestore = await seen();
} catch (error) {
  // What the page showed when a step did not happen, to tell why.
  const shown = await page.locator("body").innerText().catch(() => "?");
  process.stderr.write(`page:\n${shown}\n\nchats sent: ${JSON.stringify(report.chatBodies)}\nerrors: ${report.consoleErrors}\n`);
  throw error;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
