// Drives chatgate's streaming endpoint with the AI SDK's own client code path (what useChat uses):
// DefaultChatTransport posts the useChat body and validates every chunk strictly; readUIMessageStream
// assembles the assistant message. Prints the final UI message as JSON, or exits 1 with the error.
// usage: node drive-stream.mjs <ai5|ai6|ai7> <chat url> <bearer token> <chat id> <user text> [user message id]
const [, , flavor, api, token, chatId, text, userMessageId = 'user-1'] = process.argv;
const ai = await import(flavor);

const transport = new ai.DefaultChatTransport({ api, headers: { Authorization: `Bearer ${token}` } });
const stream = await transport.sendMessages({
  trigger: 'submit-message',
  chatId,
  messageId: undefined,
  messages: [{ id: userMessageId, role: 'user', parts: [{ type: 'text', text }] }],
  abortSignal: undefined,
});
let last;
for await (const message of ai.readUIMessageStream({
  stream,
  terminateOnError: true,
})) {
  last = message;
}
process.stdout.write(JSON.stringify(last));
