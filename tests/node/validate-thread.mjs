// Validates a restored thread with the AI SDK's own validateUIMessages (what an app runs on messages
// it loads before handing them to useChat or convertToModelMessages), then converts it to model
// messages as a server route would. Reads {"messages": [...]} on stdin; prints the validated
// messages as JSON, or exits 1 with the error.
// usage: node validate-thread.mjs <ai5|ai6|ai7> < thread.json
const [, , flavor] = process.argv;
const ai = await import(flavor);

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { messages } = JSON.parse(input);
try {
  const validated = await ai.validateUIMessages({ messages });
  await ai.convertToModelMessages(validated);
  process.stdout.write(JSON.stringify(validated));
} catch (error) {
  process.stderr.write(`${error?.name}: ${error?.message}\n`);
  process.exit(1);
}
