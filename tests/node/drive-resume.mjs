// Resumes a chat with the AI SDK's own client code path (what `useChat({ resume: true })` calls on
// load): DefaultChatTransport.reconnectToStream sends its default request, `GET {api}/{chatId}/stream`,
// treats 204 as "nothing to resume" (null), and validates every chunk strictly. Prints "connected"
// once a stream is open, then the final UI message as JSON (or `null`); exits 1 with the error.
// usage: node drive-resume.mjs <ai5|ai6|ai7> <chat url> <bearer token> <chat id>
const [, , flavor, api, token, chatId] = process.argv;
const ai = await import(flavor);

const transport = new ai.DefaultChatTransport({ api, headers: { Authorization: `Bearer ${token}` } });
const stream = await transport.reconnectToStream({ chatId });
if (stream === null) {
  process.stdout.write('null\n');
} else {
  process.stdout.write('connected\n');
  let last;
  for await (const message of ai.readUIMessageStream({ stream, terminateOnError: true })) {
    last = message;
  }
  process.stdout.write(JSON.stringify(last) + '\n');
}
