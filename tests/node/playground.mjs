// Drives chatgate's playground page in headless Chromium, as a person would, and prints what it saw
// as JSON on stdout (tests/test_playground_browser.py asserts on it). Any step that does not happen
// within its timeout fails the run: the report then says which step, and what the page logged and
// fetched (browser-harness.mjs).
//
// Usage: node playground.mjs CHROMIUM_PATH BASE_URL
import { drive } from "./browser-harness.mjs";

const [executablePath, baseUrl] = process.argv.slice(2);
// A 1x1 PNG: an attachment the page sends as a `file` part with a data: URL.
const PIXEL = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);

await drive(executablePath, async (page, report) => {
  report.chatBodies = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/api/agents/chat")) report.chatBodies.push(JSON.parse(request.postData()));
  });

  const assistant = (n) => page.locator(".msg.assistant").nth(n);
  const lastAssistant = () => page.locator(".msg.assistant").last();
  const send = async (text) => {
    await page.fill("#input", text);
    await page.press("#input", "Enter");
  };

  // The page fetches a thread (GET /api/agents/conversations/{id}[/messages]) to restore it, and to
  // wait after a Stop; a new chat has nothing to restore, so until the Stop there must be none.
  let threadFetches = 0;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.startsWith("/api/agents/conversations/")) threadFetches += 1;
  });
  // A slow network at sign-in: the conversation list answers only once the first answer is shown, so
  // the message is sent while the page is still signing in (and the send puts the new chat's id in
  // the address: the page must not then "restore" the thread it is answering in).
  let releaseList;
  const listHeld = new Promise((resolve) => { releaseList = resolve; });
  const isList = (url) => url.pathname === "/api/agents/conversations";
  await page.route(isList, async (route) => { await listHeld; await route.continue(); }, { times: 1 });

  report.step = "sign in";
  // Sign in with a dev token minted for a typed user name.
  await page.goto(baseUrl + "/");
  await page.fill("#user", "alice");
  await page.click("#mint");
  await page.locator("#who", { hasText: "alice" }).waitFor();

  report.step = "1. send";
  // 1. Send: streamed text and tool parts (one output, one error).
  await send("who am I?");
  await assistant(0).locator(".text", { hasText: "You are alice." }).waitFor();
  report.first = {
    tools: await assistant(0).locator(".tool summary").allTextContents(),
    output: await assistant(0).locator(".tool .output").allTextContents(),
    errors: await assistant(0).locator(".tool .error").allTextContents(),
    texts: await assistant(0).locator(".text").allTextContents(),
  };
  releaseList();
  // The list is refreshed once the answer has ended: wait for it, then read all of it.
  await page.locator("#conversations li").first().waitFor();
  report.conversationsAfterFirst = await page.locator("#conversations li").allTextContents();

  report.step = "2. stop";
  // 2. Stop: the answer is mid-way (its tool ran, the model has not finished); Stop ends it.
  await send("slow please");
  await assistant(1).locator('.tool[data-state="output-available"]').waitFor();
  report.threadFetchesBeforeStop = threadFetches;
  await page.click("#stop");
  await page.locator(".msg.assistant.interrupted").waitFor();
  await page.locator("#stop").waitFor({ state: "hidden" });
  report.stopped = {
    texts: await assistant(1).locator(".text").allTextContents(),
    status: await page.textContent("#status"),
  };

  report.step = "3. attach";
  // 3. An attachment travels as a `file` part with a data: URL.
  await page.setInputFiles("#attach", { name: "pixel.png", mimeType: "image/png", buffer: PIXEL });
  await send("what is in the picture?");
  await assistant(2).locator(".text", { hasText: "answer 1" }).waitFor();
  report.attachmentShown = await page.locator(".msg.user .file img").count();

  report.step = "4. regenerate";
  // 4. Regenerate: the last answer is replaced, not added to.
  await page.click("#regenerate");
  await lastAssistant().locator(".text", { hasText: "answer 2" }).waitFor();
  report.afterRegenerate = {
    assistants: await page.locator(".msg.assistant").count(),
    last: await lastAssistant().locator(".text").allTextContents(),
  };

  report.step = "5. reload";
  // 5. Reload: the thread comes back from the server.
  const hash = new URL(page.url()).hash;
  await page.reload();
  await page.locator(".msg.assistant .text", { hasText: "You are alice." }).waitFor();
  report.restored = {
    hash,
    url: page.url(),
    users: await page.locator(".msg.user .text").allTextContents(),
    tools: await page.locator(".msg.assistant .tool summary").allTextContents(),
    outputs: await page.locator(".msg.assistant .tool .output").allTextContents(),
    texts: await page.locator(".msg.assistant .text").allTextContents(),
    interrupted: await page.locator(".msg.assistant.interrupted").count(),
  };
  report.features = await page.getAttribute('meta[name="chatgate-features"]', "content");
});
