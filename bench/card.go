package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
)

// SampleText is the default text Card cuts its prompts from.
const SampleText = `The lighthouse keeper climbed the spiral stairs every evening at dusk, counting the one hundred and twelve steps as his father had taught him. At the top he trimmed the wick, polished the great lens until it shone, and watched the fishing boats come home across the grey water. Some nights the fog rolled in so thick that he could not see the rocks below, and on those nights he rang the bell by hand until morning. The villagers said that no ship had been lost on that coast for forty years, and they brought him bread and apples and news from the town in thanks. In winter the storms came from the north, and the waves threw spray as high as the gallery rail; in summer children rowed out to the island to ask him about the old wrecks, the smugglers' caves and the whale that once swam into the harbour. He kept a logbook of every ship he saw, the weather of every day and the birds that rested on the tower during their long migrations, and when he grew old he gave the books to the school so that the children would remember.`

// CardOptions configure Card.
type CardOptions struct {
	// Text is what the prompts are cut from (default SampleText).
	Text string
	// Batch is the number of prompts generated together (default 64, the card's PyTorch
	// batch).
	Batch int
	// Prompt is the length of each prompt in tokens, BOS included (default 32).
	Prompt int
	// Gen is the number of tokens generated for each prompt (default 32).
	Gen int
	// Temperature and TopP are the sampling settings (defaults 0.2 and 0.95, the card's).
	Temperature, TopP float32
	// Seed seeds the samplers (sequence i uses Seed+i).
	Seed uint64
	// Reps is the number of measured repetitions (default 3).
	Reps int
	// Model describes the model in the record (see Describe).
	Model ModelInfo
	// Progress, when set, receives a line per repetition.
	Progress io.Writer
}

// prefillRows bounds the rows of one prefill Forward, which keeps activation memory small.
const prefillRows = 512

// Card measures throughput as the DeciLM model card does: Batch prompts of Prompt tokens
// are cut from the text (prompt i starts i/Batch of the way through it, wrapping around),
// all are prefilled and then decoded together for Gen steps, one Forward per step, each
// sequence sampling with its own sampler (end-of-sequence tokens do not stop it). The
// rate is generated tokens (Batch·Gen) per second of the whole run, prefill included, as
// timing a Hugging Face generate call measures it. A one-token Forward before the measured
// repetitions pages the weights in.
func Card(ctx context.Context, m *model.Model, tok *tokenizer.Tokenizer, o CardOptions) (Record, error) {
	if o.Text == "" {
		o.Text = SampleText
	}
	if o.Batch == 0 {
		o.Batch = 64
	}
	if o.Prompt == 0 {
		o.Prompt = 32
	}
	if o.Gen == 0 {
		o.Gen = 32
	}
	if o.Temperature == 0 {
		o.Temperature = 0.2
	}
	if o.TopP == 0 {
		o.TopP = 0.95
	}
	if o.Reps <= 0 {
		o.Reps = 3
	}
	c := m.Config
	if o.Batch < 0 || o.Prompt < 1 || o.Gen < 0 {
		return Record{}, errors.New("bench: card: batch, prompt and generation lengths must be positive")
	}
	if o.Prompt+o.Gen > c.ContextLength() {
		return Record{}, fmt.Errorf("bench: card: %d+%d tokens exceed the context length %d", o.Prompt, o.Gen, c.ContextLength())
	}
	text := tok.Encode(o.Text, tokenizer.EncodeOptions{})
	if len(text) == 0 {
		return Record{}, errors.New("bench: card: the sample text has no tokens")
	}
	prompts := make([][]int, o.Batch)
	for i := range prompts {
		p := []int{tok.BOS()}
		if p[0] < 0 {
			p = p[:0]
		}
		for j := i * len(text) / o.Batch; len(p) < o.Prompt; j++ {
			p = append(p, text[j%len(text)])
		}
		prompts[i] = p
	}
	so := sample.Options{Temperature: o.Temperature, TopP: o.TopP}
	if err := so.Validate(); err != nil {
		return Record{}, fmt.Errorf("bench: card: %w", err)
	}
	cache := model.NewCache(c, o.Prompt+o.Gen)
	once := func() error {
		hist := make([][]int, o.Batch)
		samplers := make([]*sample.Sampler, o.Batch)
		next := make([]int, o.Batch)
		for i := range prompts {
			so.Seed = o.Seed + uint64(i)
			s, err := sample.New(so)
			if err != nil {
				return err
			}
			samplers[i] = s
			hist[i] = append([]int(nil), prompts[i]...)
			cache.Free(i)
		}
		// Prefill, several prompts per Forward up to prefillRows rows.
		var b model.Batch
		var seqs []int
		flush := func() error {
			if b.Len() == 0 {
				return nil
			}
			out, err := m.Forward(&b, cache)
			if err != nil {
				return err
			}
			for k, s := range seqs {
				if next[s], err = samplers[s].Sample(out[k*c.Vocab:(k+1)*c.Vocab], hist[s]); err != nil {
					return err
				}
			}
			b.Reset()
			seqs = seqs[:0]
			return nil
		}
		for i, p := range prompts {
			if b.Len()+len(p) > prefillRows {
				if err := flush(); err != nil {
					return err
				}
			}
			for j, t := range p {
				b.Add(i, j, t, j == len(p)-1)
			}
			seqs = append(seqs, i)
		}
		if err := flush(); err != nil {
			return err
		}
		for step := 1; step < o.Gen; step++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.Reset()
			for i := range prompts {
				hist[i] = append(hist[i], next[i])
				b.Add(i, len(hist[i])-1, next[i], true)
			}
			out, err := m.Forward(&b, cache)
			if err != nil {
				return err
			}
			for i := range prompts {
				if next[i], err = samplers[i].Sample(out[i*c.Vocab:(i+1)*c.Vocab], hist[i]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	rec := baseRecord(m, o.Model)
	rec.Test = fmt.Sprintf("card b%d p%d g%d", o.Batch, o.Prompt, o.Gen)
	rec.NPrompt, rec.NGen, rec.NSeq, rec.NBatch = o.Prompt, o.Gen, o.Batch, o.Batch
	rec.KernelPath = kernelPath(m, o.Batch)
	rec.TestTime = time.Now().UTC().Format(time.RFC3339)
	rec.tokensPerRep = o.Batch * o.Gen
	// Warm-up: one token through every weight, so that the first repetition does not pay
	// for paging the file in.
	var wb model.Batch
	wb.Add(0, 0, prompts[0][0], true)
	if _, err := m.Forward(&wb, cache); err != nil {
		return Record{}, fmt.Errorf("bench: card: %w", err)
	}
	cache.Free(0)
	for i := 0; i < o.Reps; i++ {
		start := time.Now()
		if err := once(); err != nil {
			return Record{}, fmt.Errorf("bench: card: %w", err)
		}
		ns := time.Since(start).Nanoseconds()
		rec.SamplesNs = append(rec.SamplesNs, ns)
		rec.SamplesTs = append(rec.SamplesTs, float64(rec.tokensPerRep)*1e9/float64(max(ns, 1)))
		progress(o.Progress, "bench: %s: rep %d/%d: %.2f generated t/s", rec.Test, i+1, o.Reps, rec.SamplesTs[i])
	}
	rec.summarise()
	return rec, nil
}
