package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/model"
)

// LoRA adapters served under their own model names, as vLLM does: a request's "model"
// field names the base model or an adapter, GET /v1/models lists both, and requests of
// different adapters (and of none) run in the same batches. With runtime updates allowed,
// POST /v1/load_lora_adapter {"lora_name", "lora_path"} and POST /v1/unload_lora_adapter
// {"lora_name"} change the set while requests run: a request keeps the adapter it started
// with until it ends.

// loraSet is the server's named adapters.
type loraSet struct {
	mu      sync.RWMutex
	byName  map[string]*loraEntry
	max     int
	runtime bool
}

type loraEntry struct {
	name, path string
	adapter    *model.Adapter
	created    int64
}

// LoRAOptions configure the adapters a server may hold.
type LoRAOptions struct {
	// Max bounds the adapters loaded at once (vLLM's --max-loras; 0: 8).
	Max int
	// Runtime enables POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's
	// VLLM_ALLOW_RUNTIME_LORA_UPDATING); without it they answer 404.
	Runtime bool
}

// ConfigureLoRA sets the adapter limits; call it before serving.
func (s *Server) ConfigureLoRA(o LoRAOptions) {
	if o.Max <= 0 {
		o.Max = 8
	}
	s.lora.mu.Lock()
	s.lora.max, s.lora.runtime = o.Max, o.Runtime
	s.lora.mu.Unlock()
}

func (s *Server) loraRoutes() {
	s.lora.max = 8
	s.mux.HandleFunc("POST /v1/load_lora_adapter", s.api("load_lora_adapter", s.handleLoadLoRA))
	s.mux.HandleFunc("POST /v1/unload_lora_adapter", s.api("unload_lora_adapter", s.handleUnloadLoRA))
}

// LoadLoRA loads the adapter spec (PATH[:SCALE], see lora.ParseSpec) for e's model and
// serves it as model name. The model's own adapter (Model.SetAdapter, `serve --lora PATH`)
// stays applied under it.
func (s *Server) LoadLoRA(e *engine.Engine, name, spec string) error {
	if name == "" || strings.ContainsAny(name, " \t\n\"") {
		return fmt.Errorf("adapter name %q: want a non-empty name without spaces or quotes", name)
	}
	if name == s.modelName(e) {
		return fmt.Errorf("adapter name %q is the base model's", name)
	}
	path, scale, err := lora.ParseSpec(spec)
	if err != nil {
		return err
	}
	net := e.Model().Net
	a, err := lora.Load(path, net.Config, scale)
	if err != nil {
		return err
	}
	if base := net.Adapter(); base != nil {
		if a, err = model.CombineAdapters(name, base, a); err != nil {
			return err
		}
	}
	a.Name = name
	ls := &s.lora
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if _, dup := ls.byName[name]; dup {
		return fmt.Errorf("the lora adapter %q has already been loaded", name)
	}
	if len(ls.byName) >= ls.max {
		return fmt.Errorf("%d lora adapters are loaded, the most this server holds (--max-loras); unload one first", len(ls.byName))
	}
	if ls.byName == nil {
		ls.byName = map[string]*loraEntry{}
	}
	ls.byName[name] = &loraEntry{name: name, path: path, adapter: a, created: time.Now().Unix()}
	return nil
}

// UnloadLoRA stops serving adapter name; requests running with it finish with it.
func (s *Server) UnloadLoRA(name string) bool {
	ls := &s.lora
	ls.mu.Lock()
	defer ls.mu.Unlock()
	_, ok := ls.byName[name]
	delete(ls.byName, name)
	return ok
}

// lookupModel resolves a request's model field: nil for the base model (or an empty
// field), the adapter for an adapter's name, a 404 otherwise.
func (s *Server) lookupModel(name string, e *engine.Engine) (*model.Adapter, error) {
	if name == "" || name == s.modelName(e) {
		return nil, nil
	}
	s.lora.mu.RLock()
	ent := s.lora.byName[name]
	s.lora.mu.RUnlock()
	if ent != nil {
		return ent.adapter, nil
	}
	msg := fmt.Sprintf("the model %q does not exist; this server serves %q", name, s.modelName(e))
	if names := s.loraNames(); len(names) > 0 {
		msg += " and the LoRA adapters " + strings.Join(names, ", ")
	}
	return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "model_not_found", param: "model", msg: msg}
}

// responseModel is the model id a response names: the adapter's when one was asked for.
func (s *Server) responseModel(name string, e *engine.Engine) string {
	if name != "" {
		if a, err := s.lookupModel(name, e); err == nil && a != nil {
			return name
		}
	}
	return s.modelName(e)
}

func (s *Server) loraNames() []string {
	s.lora.mu.RLock()
	defer s.lora.mu.RUnlock()
	names := make([]string, 0, len(s.lora.byName))
	for n := range s.lora.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// loraModel is an adapter's entry in /v1/models: vLLM's root (its path) and parent (the
// base model).
type loraModel struct {
	modelObject
	Root   string `json:"root"`
	Parent string `json:"parent"`
}

// loraModels lists the adapters as /v1/models entries, by name.
func (s *Server) loraModels(e *engine.Engine) []any {
	var out []any
	s.lora.mu.RLock()
	defer s.lora.mu.RUnlock()
	for _, n := range s.loraNamesLocked() {
		ent := s.lora.byName[n]
		mo := s.model(e)
		mo.ID, mo.Created = ent.name, ent.created
		out = append(out, loraModel{modelObject: mo, Root: ent.path, Parent: s.modelName(e)})
	}
	return out
}

func (s *Server) loraNamesLocked() []string {
	names := make([]string, 0, len(s.lora.byName))
	for n := range s.lora.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// handleLoRAModel answers GET /v1/models/{id} for an adapter; false when id is none.
func (s *Server) handleLoRAModel(w http.ResponseWriter, id string, e *engine.Engine) bool {
	for _, m := range s.loraModels(e) {
		if m.(loraModel).ID == id {
			writeJSON(w, m)
			return true
		}
	}
	return false
}

type loraRequest struct {
	Name *string `json:"lora_name"`
	Path *string `json:"lora_path"`
}

func (s *Server) runtimeLoRA() error {
	s.lora.mu.RLock()
	defer s.lora.mu.RUnlock()
	if !s.lora.runtime {
		return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found",
			msg: "loading and unloading LoRA adapters at run time is off: start the server with --lora-runtime-updates"}
	}
	return nil
}

// handleLoadLoRA is vLLM's POST /v1/load_lora_adapter.
func (s *Server) handleLoadLoRA(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	if err := s.runtimeLoRA(); err != nil {
		return err
	}
	var req loraRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Name == nil || req.Path == nil || *req.Name == "" || *req.Path == "" {
		return badRequest("", "both 'lora_name' and 'lora_path' must be provided")
	}
	if err := s.LoadLoRA(e, *req.Name, *req.Path); err != nil {
		return badRequest("lora_path", "%v", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Success: LoRA adapter '%s' added successfully.", *req.Name)
	return nil
}

// handleUnloadLoRA is vLLM's POST /v1/unload_lora_adapter.
func (s *Server) handleUnloadLoRA(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	if err := s.runtimeLoRA(); err != nil {
		return err
	}
	var req loraRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Name == nil || *req.Name == "" {
		return badRequest("lora_name", "'lora_name' must be provided")
	}
	if !s.UnloadLoRA(*req.Name) {
		return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found", param: "lora_name",
			msg: fmt.Sprintf("the lora adapter '%s' cannot be found", *req.Name)}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Success: LoRA adapter '%s' removed successfully.", *req.Name)
	return nil
}

// loraMetrics writes vLLM's vllm:lora_requests_info gauge: labels max_lora and the
// adapters of running and of waiting requests (comma-separated), value the time of the
// scrape, as vLLM sets it.
func (s *Server) loraMetrics(w interface{ Write([]byte) (int, error) }, st engine.Stats) {
	s.lora.mu.RLock()
	max := s.lora.max
	s.lora.mu.RUnlock()
	fmt.Fprintf(w, "# HELP vllm:lora_requests_info Running stats on lora requests.\n# TYPE vllm:lora_requests_info gauge\n")
	fmt.Fprintf(w, "vllm:lora_requests_info{max_lora=%q,running_lora_adapters=%q,waiting_lora_adapters=%q} %s\n",
		fmt.Sprint(max), strings.Join(st.RunningAdapters, ","), strings.Join(st.WaitingAdapters, ","),
		formatFloat(float64(time.Now().UnixNano())/1e9))
}
