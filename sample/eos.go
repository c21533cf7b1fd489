package sample

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// EOSTokenIDs returns the end-of-sequence token ids of a checkpoint, as
// Hugging Face's generate finds them: eos_token_id of generation_config.json
// when that file is given (non-nil) and sets it, else eos_token_id of
// config.json. The field may be an integer or a list of integers; a missing
// or null field gives no ids from that file. Generation should stop when
// any returned id is sampled.
func EOSTokenIDs(config, generationConfig []byte) ([]int, error) {
	if generationConfig != nil {
		ids, ok, err := eosField(generationConfig)
		if err != nil {
			return nil, fmt.Errorf("sample: generation_config.json: %w", err)
		}
		if ok {
			return ids, nil
		}
	}
	if config == nil {
		return nil, nil
	}
	ids, _, err := eosField(config)
	if err != nil {
		return nil, fmt.Errorf("sample: config.json: %w", err)
	}
	return ids, nil
}

// eosField decodes eos_token_id from a JSON object; ok is false when the
// field is absent or null.
func eosField(data []byte) (ids []int, ok bool, err error) {
	var obj struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, false, err
	}
	raw := bytes.TrimSpace(obj.EOS)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, false, fmt.Errorf("eos_token_id: want an integer or a list of integers: %w", err)
		}
	} else {
		var id int
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, false, fmt.Errorf("eos_token_id: want an integer or a list of integers: %w", err)
		}
		ids = []int{id}
	}
	for _, id := range ids {
		if id < 0 {
			return nil, false, fmt.Errorf("eos_token_id: %d is negative", id)
		}
	}
	return ids, true, nil
}
