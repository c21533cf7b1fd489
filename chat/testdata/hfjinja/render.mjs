// Renders a chat template with Hugging Face's @huggingface/jinja (the engine of
// transformers.js's apply_chat_template) for each case of a cases file. Usage:
//   node render.mjs template.jinja cases.json out.json
// A case is {name, messages, add_generation_prompt, tools?, vars?}; out.json gets
// [{name, output} or {name, error}] in order. bos_token and eos_token are Llama-3's.
import { Template } from "@huggingface/jinja";
import fs from "fs";

const [tf, cf, outp] = process.argv.slice(2);
const template = new Template(fs.readFileSync(tf, "utf8"));
const cases = JSON.parse(fs.readFileSync(cf, "utf8"));
const out = cases.map((c) => {
  const ctx = { ...(c.vars || {}), messages: c.messages, add_generation_prompt: c.add_generation_prompt,
    bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" };
  if (c.tools) ctx.tools = c.tools;
  try {
    return { name: c.name, output: template.render(ctx) };
  } catch (e) {
    return { name: c.name, error: String(e.message || e) };
  }
});
fs.writeFileSync(outp, JSON.stringify(out));
