// Drives a tool approval through the AI SDK's own chat client (AbstractChat: what useChat runs):
// sends a message, waits for the tool part in state approval-requested, answers it with
// addToolApprovalResponse, and lets sendAutomaticallyWhen send the continuation the SDK builds.
// Prints {messages, requests, data} as JSON (requests: the bodies the client posted; data: the
// data parts it received), or exits 1 with the error.
// usage: node drive-approval.mjs <ai6|ai7> <chat url> <bearer token> <chat id> <user text> <approve|deny>
const [, , flavor, api, token, chatId, text, verdict] = process.argv;
const ai = await import(flavor);

const requests = [];
const data = [];
const recordingFetch = async (url, init) => {
  requests.push(JSON.parse(init.body));
  return fetch(url, init);
};

class MemoryState {
  constructor() {
    this.status = 'ready';
    this.error = undefined;
    this.messages = [];
  }
  pushMessage = (message) => { this.messages = [...this.messages, message]; };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (index, message) => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  };
  snapshot = (thing) => structuredClone(thing);
}

class Chat extends ai.AbstractChat {
  constructor(options) {
    super({ ...options, state: new MemoryState() });
  }
}

let failure;
const chat = new Chat({
  id: chatId,
  transport: new ai.DefaultChatTransport({ api, headers: { Authorization: `Bearer ${token}` }, fetch: recordingFetch }),
  sendAutomaticallyWhen: ai.lastAssistantMessageIsCompleteWithApprovalResponses,
  onError: (error) => { failure = error; },
  onData: (part) => { data.push(part); },
});

const settled = async () => {
  for (let i = 0; i < 6000; i++) {
    if (chat.status === 'ready' || chat.status === 'error') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`chat did not settle: ${chat.status}`);
};

await chat.sendMessage({ text });
await settled();
if (failure) throw failure;
const asked = chat.messages.at(-1).parts.filter((part) => part.state === 'approval-requested');
if (asked.length === 0) throw new Error(`no approval was requested: ${JSON.stringify(chat.messages.at(-1))}`);
for (const part of asked) {
  await chat.addToolApprovalResponse({ id: part.approval.id, approved: verdict === 'approve', reason: verdict });
}
// The continuation is sent automatically; wait for it to start and finish.
for (let i = 0; i < 6000 && requests.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
await settled();
if (failure) throw failure;
process.stdout.write(JSON.stringify({ messages: chat.messages, requests, data }));
