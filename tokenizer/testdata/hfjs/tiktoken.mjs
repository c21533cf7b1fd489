// Encodes lines with OpenAI's tiktoken (npm, Rust core compiled to WebAssembly), an oracle
// for byte-level BPE independent of Hugging Face's: the ranks are the ids of the raw byte
// strings of a byte-level tokenizer.json's vocabulary, its added tokens are the special
// tokens (all allowed in the text), and the pattern is given. Usage:
//   node tiktoken.mjs tokenizer.json pattern.txt lines.json out.json
// out.json gets {"ids": [[...]...]}.
import { Tiktoken } from "tiktoken/lite";
import fs from "fs";

const [tj, patf, inp, outp] = process.argv.slice(2);
const tj_ = JSON.parse(fs.readFileSync(tj));
const pat = fs.readFileSync(patf, "utf8");

// GPT-2's byte-to-unicode map, inverted.
const byteOf = new Map();
let next = 256;
for (let b = 0; b < 256; b++) {
  const printable = (b >= 33 && b <= 126) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  byteOf.set(String.fromCodePoint(printable ? b : next++), b);
}
const lines = [];
for (const [tokstr, id] of Object.entries(tj_.model.vocab)) {
  const bytes = Buffer.from(Array.from(tokstr, (ch) => {
    const b = byteOf.get(ch);
    if (b === undefined) throw new Error(`token ${id} is not byte-level`);
    return b;
  }));
  lines.push(`${bytes.toString("base64")} ${id}`);
}
const special = {};
for (const a of tj_.added_tokens) special[a.content] = a.id;
const enc = new Tiktoken(lines.join("\n"), special, pat);
const input = JSON.parse(fs.readFileSync(inp));
const ids = input.map((s) => Array.from(enc.encode(s, "all"), Number));
fs.writeFileSync(outp, JSON.stringify({ ids }));
