// Drives a decilm server with the official openai npm client (openai@7.60.0): JSON mode
// and json_schema samples, tool_choice required, a tool round trip through the client's
// runTools helper, and streamed tool calls. Usage:
//   node tools.mjs JSON_BASE_URL TOOLS_BASE_URL OUT.json SCHEMA.json PARAMS.json
// The JSON samples go to the first server, the tool calls to the second. OUT.json gets what the client returned; the Go test (openai_npm_oracle_test.go) checks it.
import OpenAI from "openai";
import fs from "fs";

const [jsonURL, baseURL, outPath, schemaPath, paramsPath] = process.argv.slice(2);
const jsonClient = new OpenAI({ baseURL: jsonURL, apiKey: "none", maxRetries: 0, timeout: 1800e3 });
const client = new OpenAI({ baseURL, apiKey: "none", maxRetries: 0, timeout: 1800e3 });
const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
const params = JSON.parse(fs.readFileSync(paramsPath, "utf8"));
const model = "";
const tools = [
  { type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: params } },
  { type: "function", function: { name: "now", description: "The time" } },
];
const out = {};
const t0 = Date.now();
const step = (what) => console.error(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

// 100 sampled (temperature 1) generations: 25 streamed requests of n = 4, assembled by
// the client's stream helper (a reply only ends after many tokens: streaming keeps the
// connection's header timeout from firing).
async function sampled(extra) {
  const reqs = [];
  for (let k = 0; k < 25; k++) {
    reqs.push(jsonClient.chat.completions.stream({ model, messages: [{ role: "user", content: "Tell me about a cat." }],
      temperature: 1, n: 4, seed: 100 + k, max_tokens: 200, ...extra }).finalChatCompletion());
  }
  const res = [];
  for (const r of await Promise.all(reqs)) {
    for (const c of r.choices) res.push({ text: c.message.content, finish: c.finish_reason });
  }
  return res;
}
out.json_object = await sampled({ response_format: { type: "json_object" } });
step("json_object");
out.json_schema = await sampled({ response_format: { type: "json_schema", json_schema: { name: "cat", strict: true, schema } } });
step("json_schema");

// tool_choice required: 20 sampled choices, each must be a call.
out.required = [];
for (let k = 0; k < 5; k++) {
  const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Weather in Paris?" }],
    tools, tool_choice: "required", temperature: 1, n: 4, seed: 7 + k, max_tokens: 200 });
  for (const c of r.choices) out.required.push({ finish: c.finish_reason, message: c.message });
}

step("required");

// The round trip with the client's tool runner: the model's call runs our function, whose
// result goes back as a tool message; then the answer.
const called = [];
const runner = client.chat.completions.runTools({ model, messages: [{ role: "user", content: "Weather in Paris?" }],
  tools: [{ type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: params,
    parse: JSON.parse, function: (args) => { called.push(args); return { temperature: 18 }; } } }],
  tool_choice: { type: "function", function: { name: "get_weather" } }, temperature: 0, max_tokens: 200 });
await runner.done();
const answer = await client.chat.completions.create({ model, messages: runner.messages, tools, tool_choice: "auto",
  temperature: 0, max_tokens: 16 });
out.roundtrip = { called, messages: runner.messages, answer: answer.choices[0], usage: answer.usage };
step("round trip");

// Streamed: the client's stream helper assembles the tool-call deltas; the same request
// unstreamed gives the same call (greedy).
const body = { model, messages: [{ role: "user", content: "Weather?" }], tools,
  tool_choice: { type: "function", function: { name: "get_weather" } }, temperature: 0, max_tokens: 200 };
const stream = client.chat.completions.stream(body);
const final = await stream.finalChatCompletion();
const plain = await client.chat.completions.create(body);
out.stream = { streamed: final.choices[0], plain: plain.choices[0] };
step("stream");

fs.writeFileSync(outPath, JSON.stringify(out));
