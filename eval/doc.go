// Package eval evaluates language models on the DeciLM model card's benchmarks the way
// EleutherAI's lm-evaluation-harness does, without depending on the model itself.
//
// It owns the tasks (ARC Challenge/Easy, BoolQ, HellaSwag, LAMBADA OpenAI, OpenBookQA,
// PIQA, TruthfulQA mc1/mc2, Winogrande), reading their data in the Hugging Face datasets'
// own schemas (parquet or JSON lines, as downloaded or in the hub cache) and in the shapes
// of decilm's local fixtures; it builds the harness's exact prompt and continuation
// strings, including few-shot examples drawn with the harness's seeded sampler; it splits
// them into context and continuation tokens as the harness does for causal models (see
// Encode); and it turns log-likelihoods into acc, acc_norm, LAMBADA perplexity, mc2 and
// their standard errors, written as JSON, per-item samples and a markdown table shaped
// like the model card's.
//
// The model enters through two small interfaces: a Tokenizer and a Scorer, which returns
// the summed log-probability of each continuation and whether it is the greedy one. Run
// drives a list of tasks through them; PerplexityWindows and Perplexity do the sliding
// window perplexity of `decilm perplexity`.
package eval
