// Drives a chat with the AI SDK's own Chat class (what `useChat` runs) and its default transport:
// two questions, `regenerate()` of the last answer, then an edit of the first question with
// `sendMessage({ text, messageId })`. Prints the client's messages after each step as one JSON line;
// exits 1 with the error.
// usage: node drive-lifecycle.mjs <ai5|ai6|ai7> <chat url> <bearer token> <chat id>
const [, , flavor, api, token, chatId] = process.argv;
const ai = await import(flavor);

// The smallest ChatState: what `@ai-sdk/react` keeps in React state.
class State {
  constructor() {
    this.messages = [];
    this.status = 'ready';
    this.error = undefined;
  }
  pushMessage(message) { this.messages = this.messages.concat(message); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
  }
  snapshot(value) { return structuredClone(value); }
}

class Chat extends ai.AbstractChat {
  constructor(options) { super({ ...options, state: new State() }); }
}

const transport = new ai.DefaultChatTransport({ api, headers: { Authorization: `Bearer ${token}` } });
const chat = new Chat({ id: chatId, transport });
const show = () => process.stdout.write(JSON.stringify(chat.messages) + '\n');
const checked = () => { if (chat.error) throw chat.error; show(); };

await chat.sendMessage({ text: 'question 1' });
checked();
await chat.sendMessage({ text: 'question 2' });
checked();
await chat.regenerate();
checked();
await chat.sendMessage({ text: 'question one, edited', messageId: chat.messages[0].id });
checked();
