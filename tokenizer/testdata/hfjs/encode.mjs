// Encodes and decodes lines with Hugging Face's tokenizers.js (@huggingface/tokenizers), the
// reference for the tokenizer.json path. Usage:
//   node encode.mjs tokenizer.json tokenizer_config.json lines.json out.json
// lines.json is a JSON array of strings; out.json gets {"ids": [[...]...], "decoded": [...]}
// (encoded without added special tokens; decoded with skip_special_tokens).
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";

const [tj, tc, inp, outp] = process.argv.slice(2);
const tok = new Tokenizer(JSON.parse(fs.readFileSync(tj)), JSON.parse(fs.readFileSync(tc)));
const lines = JSON.parse(fs.readFileSync(inp));
const ids = lines.map((s) => Array.from(tok.encode(s, { add_special_tokens: false }).ids, Number));
const decoded = ids.map((x) => (x.length ? tok.decode(x, { skip_special_tokens: true }) : ""));
fs.writeFileSync(outp, JSON.stringify({ ids, decoded }));
