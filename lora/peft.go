package lora

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/checkpoint/torch"
	"github.com/decilm/decilm/tensor"
)

// maxConfig bounds adapter_config.json.
const maxConfig = 1 << 20

// Config is the part of PEFT's adapter_config.json that decides what an adapter does.
type Config struct {
	PeftType string  `json:"peft_type"`  // "LORA" (or absent)
	R        int     `json:"r"`          // the rank of modules rank_pattern does not name
	Alpha    float64 `json:"lora_alpha"` // their alpha (PEFT's default 8 when absent)
	RSLoRA   bool    `json:"use_rslora"` // scale alpha/√r rather than alpha/r
	// TargetModules is a list of module names (a module matches one when its name is it
	// or ends with "." and it) or, when the file gives a string, a regular expression the
	// whole module name must match (TargetRegex); "all-linear" targets every projection.
	TargetModules []string `json:"-"`
	TargetRegex   string   `json:"-"`
	// RankPattern and AlphaPattern map a module name or regular expression to the rank or
	// alpha of the modules it matches.
	RankPattern  map[string]int     `json:"rank_pattern"`
	AlphaPattern map[string]float64 `json:"alpha_pattern"`

	targetRe *regexp.Regexp
	patterns []string // RankPattern and AlphaPattern keys, sorted, compiled in patRe
	patRe    map[string]*regexp.Regexp
}

// rawConfig holds the fields that are checked but not kept.
type rawConfig struct {
	TargetModules    json.RawMessage `json:"target_modules"`
	UseDoRA          bool            `json:"use_dora"`
	ModulesToSave    json.RawMessage `json:"modules_to_save"`
	Bias             string          `json:"bias"`
	LoraBias         bool            `json:"lora_bias"`
	FanInFanOut      bool            `json:"fan_in_fan_out"`
	LayerReplication json.RawMessage `json:"layer_replication"`
	TargetParameters json.RawMessage `json:"target_parameters"`
	TrainableTokens  json.RawMessage `json:"trainable_token_indices"`
	ExcludeModules   json.RawMessage `json:"exclude_modules"`
	Alpha            *float64        `json:"lora_alpha"`
}

// isNull reports whether a raw JSON value is absent, null or empty.
func isNull(b json.RawMessage) bool {
	s := strings.TrimSpace(string(b))
	return s == "" || s == "null" || s == "[]" || s == "{}" || s == `""`
}

// ParseConfig parses adapter_config.json (name is used in messages), refusing what
// decilm cannot apply: another peft_type, DoRA, modules_to_save, trained biases,
// fan_in_fan_out, layer replication, target_parameters, trainable tokens and
// exclude_modules.
func ParseConfig(name string, data []byte) (*Config, error) {
	if len(data) > maxConfig {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d an adapter_config.json may have", name, len(data), maxConfig)
	}
	var c Config
	var raw rawConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	bad := func(field, why string) error { return fmt.Errorf("%s: %s: %s", name, field, why) }
	if c.PeftType != "" && c.PeftType != "LORA" {
		return nil, bad("peft_type", fmt.Sprintf("%q is not LORA", c.PeftType))
	}
	if c.R <= 0 || c.R > MaxRank {
		return nil, bad("r", fmt.Sprintf("%d is outside [1, %d]", c.R, MaxRank))
	}
	if math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) {
		return nil, bad("lora_alpha", "not a finite number")
	}
	if raw.Alpha == nil {
		c.Alpha = 8 // PEFT's default
	}
	switch {
	case raw.UseDoRA:
		return nil, bad("use_dora", "DoRA adapters are not supported")
	case !isNull(raw.ModulesToSave):
		return nil, bad("modules_to_save", "fully trained modules are not supported: "+string(raw.ModulesToSave))
	case raw.Bias != "" && raw.Bias != "none":
		return nil, bad("bias", fmt.Sprintf("%q: trained biases are not supported", raw.Bias))
	case raw.LoraBias:
		return nil, bad("lora_bias", "a bias on lora_B is not supported")
	case raw.FanInFanOut:
		return nil, bad("fan_in_fan_out", "transposed (Conv1D) weights are not supported")
	case !isNull(raw.LayerReplication):
		return nil, bad("layer_replication", "not supported")
	case !isNull(raw.TargetParameters):
		return nil, bad("target_parameters", "not supported")
	case !isNull(raw.TrainableTokens):
		return nil, bad("trainable_token_indices", "trained token embeddings are not supported")
	case !isNull(raw.ExcludeModules):
		return nil, bad("exclude_modules", "not supported")
	}
	switch tm := strings.TrimSpace(string(raw.TargetModules)); {
	case tm == "" || tm == "null":
		return nil, bad("target_modules", "missing")
	case tm[0] == '"':
		if err := json.Unmarshal(raw.TargetModules, &c.TargetRegex); err != nil {
			return nil, bad("target_modules", err.Error())
		}
		if c.TargetRegex == "all-linear" {
			c.TargetRegex = ""
			c.TargetModules = []string{"all-linear"}
			break
		}
		re, err := regexp.Compile(`^(?:` + c.TargetRegex + `)$`)
		if err != nil {
			return nil, bad("target_modules", fmt.Sprintf("regular expression %q: %v", c.TargetRegex, err))
		}
		c.targetRe = re
	default:
		if err := json.Unmarshal(raw.TargetModules, &c.TargetModules); err != nil {
			return nil, bad("target_modules", "want a list of module names or a regular expression: "+err.Error())
		}
	}
	c.patRe = map[string]*regexp.Regexp{}
	for k, r := range c.RankPattern {
		if r <= 0 || r > MaxRank {
			return nil, bad("rank_pattern", fmt.Sprintf("%q: rank %d is outside [1, %d]", k, r, MaxRank))
		}
		c.patterns = append(c.patterns, k)
	}
	for k, a := range c.AlphaPattern {
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return nil, bad("alpha_pattern", fmt.Sprintf("%q: not a finite number", k))
		}
		if _, ok := c.RankPattern[k]; !ok {
			c.patterns = append(c.patterns, k)
		}
	}
	sort.Strings(c.patterns)
	for _, k := range c.patterns {
		re, err := regexp.Compile(`^(?:.*\.)?(?:` + k + `)$`)
		if err != nil {
			return nil, bad("rank_pattern/alpha_pattern", fmt.Sprintf("key %q: %v", k, err))
		}
		c.patRe[k] = re
	}
	return &c, nil
}

// Targets reports whether the adapter's target_modules select module (a name such as
// "model.layers.3.self_attn.q_proj", without PEFT's "base_model.model." prefix).
func (c *Config) Targets(module string) bool {
	if c.targetRe != nil {
		return c.targetRe.MatchString(module)
	}
	for _, t := range c.TargetModules {
		if t == "all-linear" || module == t || strings.HasSuffix(module, "."+t) {
			return true
		}
	}
	return false
}

// patternKey returns the rank_pattern/alpha_pattern key that applies to module: one equal
// to it, else the first (in sorted order) whose regular expression matches its end after a
// dot, as PEFT's get_pattern_key; "" when none does.
func (c *Config) patternKey(module string) string {
	for _, k := range c.patterns {
		if k == module {
			return k
		}
	}
	for _, k := range c.patterns {
		if c.patRe[k].MatchString(module) {
			return k
		}
	}
	return ""
}

// RankAlpha returns the rank and alpha of module: r and lora_alpha, or the values
// rank_pattern and alpha_pattern give it.
func (c *Config) RankAlpha(module string) (int, float64) {
	r, a := c.R, c.Alpha
	if k := c.patternKey(module); k != "" {
		if v, ok := c.RankPattern[k]; ok {
			r = v
		}
		if v, ok := c.AlphaPattern[k]; ok {
			a = v
		}
	}
	return r, a
}

// Scale is the factor of module's update: alpha/r, or alpha/√r with rsLoRA.
func (c *Config) Scale(module string) float64 {
	r, a := c.RankAlpha(module)
	if c.RSLoRA {
		return a / math.Sqrt(float64(r))
	}
	return a / float64(r)
}

// peftPrefix starts every tensor name of a PEFT LoRA adapter.
const peftPrefix = "base_model.model."

// openPEFT reads adapter_config.json from dir and the weights from weights, or from
// adapter_model.safetensors (else adapter_model.bin) in dir when weights is "".
func openPEFT(dir, weights string) (*File, error) {
	cfgPath := filepath.Join(dir, "adapter_config.json")
	data, err := readLimited(cfgPath, maxConfig)
	if err != nil {
		return nil, fmt.Errorf("lora adapter: %w", err)
	}
	cfg, err := ParseConfig(cfgPath, data)
	if err != nil {
		return nil, fmt.Errorf("lora adapter %w", err)
	}
	if weights == "" {
		weights = filepath.Join(dir, "adapter_model.safetensors")
		if _, err := os.Stat(weights); err != nil {
			bin := filepath.Join(dir, "adapter_model.bin")
			if _, err2 := os.Stat(bin); err2 != nil {
				return nil, fmt.Errorf("lora adapter %s: neither adapter_model.safetensors nor adapter_model.bin", dir)
			}
			weights = bin
		}
	}
	var ts []*tensor.Tensor
	var closer func() error
	if strings.HasSuffix(weights, ".bin") {
		tf, err := torch.Open(weights)
		if err != nil {
			return nil, fmt.Errorf("lora adapter: %w", err)
		}
		if len(tf.Unsupported) > 0 {
			tf.Close()
			return nil, fmt.Errorf("lora adapter %s: tensor %s has a storage type decilm cannot read", weights, tf.Unsupported[0].Name)
		}
		ts, closer = tf.Tensors, tf.Close
	} else {
		sf, err := safetensors.Open(weights)
		if err != nil {
			return nil, fmt.Errorf("lora adapter: %w", err)
		}
		ts, closer = sf.Tensors, sf.Close
	}
	f, err := fromPEFT(weights, cfg, ts)
	if err != nil {
		closer()
		return nil, err
	}
	f.closers = append(f.closers, closer)
	return f, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	return b, nil
}

// fromPEFT pairs a PEFT adapter's tensors: base_model.model.MODULE.lora_A.weight [r, in]
// and .lora_B.weight [out, r].
func fromPEFT(name string, cfg *Config, ts []*tensor.Tensor) (*File, error) {
	f := &File{Path: name, Format: PEFT}
	type ab struct{ a, b *tensor.Tensor }
	pairs := map[string]*ab{}
	var order []string
	for _, t := range ts {
		n := t.Name
		if !strings.HasPrefix(n, peftPrefix) {
			return nil, fmt.Errorf("lora adapter %s: tensor %s does not start with %q", name, n, peftPrefix)
		}
		n = strings.TrimPrefix(n, peftPrefix)
		var module string
		var isA bool
		switch {
		case strings.HasSuffix(n, ".lora_A.weight"):
			module, isA = strings.TrimSuffix(n, ".lora_A.weight"), true
		case strings.HasSuffix(n, ".lora_B.weight"):
			module = strings.TrimSuffix(n, ".lora_B.weight")
		case strings.Contains(n, "lora_magnitude_vector"):
			return nil, fmt.Errorf("lora adapter %s: tensor %s is a DoRA magnitude, which is not supported", name, t.Name)
		case strings.Contains(n, "lora_embedding_"):
			return nil, fmt.Errorf("lora adapter %s: tensor %s adapts an embedding, which is not supported", name, t.Name)
		case strings.HasSuffix(n, ".bias"):
			return nil, fmt.Errorf("lora adapter %s: tensor %s is a trained bias, which is not supported", name, t.Name)
		case strings.HasSuffix(n, ".lora_A.default.weight"), strings.HasSuffix(n, ".lora_B.default.weight"):
			return nil, fmt.Errorf("lora adapter %s: tensor %s carries PEFT's adapter name (save the adapter with save_pretrained)", name, t.Name)
		default:
			return nil, fmt.Errorf("lora adapter %s: tensor %s is not a lora_A or lora_B weight (modules_to_save and other trained weights are not supported)", name, t.Name)
		}
		if !cfg.Targets(module) {
			return nil, fmt.Errorf("lora adapter %s: tensor %s: module %s is not among target_modules", name, t.Name, module)
		}
		p := pairs[module]
		if p == nil {
			p = &ab{}
			pairs[module] = p
			order = append(order, module)
		}
		if isA {
			if p.a != nil {
				return nil, fmt.Errorf("lora adapter %s: tensor %s appears twice", name, t.Name)
			}
			p.a = t
		} else {
			if p.b != nil {
				return nil, fmt.Errorf("lora adapter %s: tensor %s appears twice", name, t.Name)
			}
			p.b = t
		}
	}
	for _, module := range order {
		p := pairs[module]
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("lora adapter %s: module %s has only one of lora_A and lora_B", name, module)
		}
		if len(p.a.Shape) != 2 || len(p.b.Shape) != 2 {
			return nil, fmt.Errorf("lora adapter %s: module %s: lora_A %v and lora_B %v must be matrices", name, module, p.a.Shape, p.b.Shape)
		}
		r, alpha := cfg.RankAlpha(module)
		if p.a.Shape[0] != r || p.b.Shape[1] != r {
			return nil, fmt.Errorf("lora adapter %s: module %s: lora_A %v and lora_B %v, but adapter_config.json gives rank %d (r or rank_pattern)", name, module, p.a.Shape, p.b.Shape, r)
		}
		f.Pairs = append(f.Pairs, Pair{Module: module, A: p.a, B: p.b, Rank: r, Alpha: alpha, Scale: cfg.Scale(module)})
	}
	if len(f.Pairs) == 0 {
		return nil, fmt.Errorf("lora adapter %s: no lora_A/lora_B tensors", name)
	}
	return f, nil
}

// ParsePEFT reads a PEFT adapter held in memory: adapter_config.json's bytes and
// adapter_model.safetensors' bytes (name is used in messages).
func ParsePEFT(name string, config, weights []byte) (*File, error) {
	cfg, err := ParseConfig(name+"/adapter_config.json", config)
	if err != nil {
		return nil, fmt.Errorf("lora adapter %w", err)
	}
	sf, err := safetensors.Parse(name+"/adapter_model.safetensors", weights)
	if err != nil {
		return nil, fmt.Errorf("lora adapter: %w", err)
	}
	return fromPEFT(name, cfg, sf.Tensors)
}
