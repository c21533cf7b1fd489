// Package finetune trains LoRA adapters: it reads training data (OpenOrca rows, chat
// conversations or plain text) into token sequences whose loss is masked to the response,
// runs the optimiser loop (AdamW with linear warm-up and a cosine schedule, global-norm
// gradient clipping, gradient accumulation), evaluates held-out loss each epoch, writes
// checkpoints that a later run resumes exactly, and saves the adapter in Hugging Face PEFT's
// layout (adapter_config.json and adapter_model.safetensors) with the loss curve as CSV
// and PNG.
//
// The forward and backward pass are not here: the loop drives a [Trainable], which the
// train package's *train.Net becomes through [Wrap], and tests drive the exact bigram
// model of package finetunetest.
package finetune

// LoRAConfig says which projections get adapters and their rank and scale, as PEFT's
// LoraConfig does. It has the same fields as train.LoRAConfig, so each converts to the
// other.
type LoRAConfig struct {
	R       int
	Alpha   float64
	RSLoRA  bool     // scale = Alpha/sqrt(R) instead of Alpha/R
	Targets []string // PEFT module names: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj ...
}

// Param is one trainable matrix, row-major: the same fields as train.Param.
type Param struct {
	// Name is PEFT's tensor name, e.g.
	// base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight.
	Name       string
	Rows, Cols int       // lora_A: [R, in]; lora_B: [out, R]
	W, G       []float32 // value and accumulated gradient, each Rows*Cols long
}

// Example is one training sequence: Loss[i] says whether predicting Tokens[i+1] from
// position i counts in the loss (len(Loss) == len(Tokens)-1). The same fields as
// train.Example.
type Example struct {
	Tokens []int
	Loss   []bool
}

// Trainable is a frozen model with LoRA parameters: what the training loop needs.
// Params must return the same parameters, in the same order, on every call, and their W
// and G slices must keep their backing arrays (ZeroGrad clears G in place), because the
// optimiser updates W through them.
type Trainable interface {
	// Params returns the trainable matrices in a stable order.
	Params() []*Param
	// ZeroGrad sets every Param's G to zero.
	ZeroGrad()
	// Step runs forward and backward over batch and adds d(sum of counted token
	// losses)/dW into each G; it returns the summed cross-entropy (nats) and the number of
	// counted tokens. checkpoint asks for activation checkpointing.
	Step(batch []Example, checkpoint bool) (lossSum float64, count int, err error)
	// Loss is Step without gradients.
	Loss(batch []Example) (lossSum float64, count int, err error)
	// Scale is the LoRA scale (Alpha/R, or Alpha/sqrt(R) with RSLoRA).
	Scale() float64
	// Config returns the adapter's configuration.
	Config() LoRAConfig
}

// Net is the method set of train.Net, generic in its parameter, example and config types so
// that this package need not import train: [Wrap] accepts any Net whose types have the
// fields of [Param], [Example] and [LoRAConfig].
type Net[P, E, C any] interface {
	Params() []*P
	ZeroGrad()
	Step(batch []E, checkpoint bool) (float64, int, error)
	Loss(batch []E) (float64, int, error)
	Scale() float64
	Config() C
}

// Wrap makes a Trainable of n, whose parameter, example and config types have exactly the
// fields of Param, Example and LoRAConfig (train.Net's do): finetune.Wrap(net) with net a
// *train.Net. Parameters share their W and G slices with n's.
func Wrap[P paramFields, E exampleFields, C configFields](n Net[P, E, C]) Trainable {
	return wrapped[P, E, C]{n}
}

type (
	paramFields interface {
		~struct {
			Name       string
			Rows, Cols int
			W, G       []float32
		}
	}
	exampleFields interface {
		~struct {
			Tokens []int
			Loss   []bool
		}
	}
	configFields interface {
		~struct {
			R       int
			Alpha   float64
			RSLoRA  bool
			Targets []string
		}
	}
)

type wrapped[P paramFields, E exampleFields, C configFields] struct{ n Net[P, E, C] }

func (w wrapped[P, E, C]) Params() []*Param {
	ps := w.n.Params()
	out := make([]*Param, len(ps))
	for i, p := range ps {
		q := Param(*p)
		out[i] = &q
	}
	return out
}

func (w wrapped[P, E, C]) ZeroGrad() { w.n.ZeroGrad() }

func (w wrapped[P, E, C]) batch(b []Example) []E {
	out := make([]E, len(b))
	for i, ex := range b {
		out[i] = E(ex)
	}
	return out
}

func (w wrapped[P, E, C]) Step(b []Example, checkpoint bool) (float64, int, error) {
	return w.n.Step(w.batch(b), checkpoint)
}

func (w wrapped[P, E, C]) Loss(b []Example) (float64, int, error) {
	return w.n.Loss(w.batch(b))
}

func (w wrapped[P, E, C]) Scale() float64 { return w.n.Scale() }

func (w wrapped[P, E, C]) Config() LoRAConfig { return LoRAConfig(w.n.Config()) }
