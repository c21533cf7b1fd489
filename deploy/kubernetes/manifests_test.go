package kubernetes

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFor maps apiVersion and kind to the schema file in testdata/schemas.
var schemaFor = map[string]string{
	"apps/v1 Deployment":                           "deployment-apps-v1.json",
	"v1 Service":                                   "service-v1.json",
	"autoscaling/v2 HorizontalPodAutoscaler":       "horizontalpodautoscaler-autoscaling-v2.json",
	"inference.networking.k8s.io/v1 InferencePool": "inferencepool-inference.networking.k8s.io-v1.json",
	"gateway.networking.k8s.io/v1 HTTPRoute":       "httproute-gateway.networking.k8s.io-v1.json",
}

const schemaBase = "https://decilm.invalid/schemas/"

func compiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	files, err := filepath.Glob(filepath.Join("testdata", "schemas", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kubernetesDialect(doc)
		if err := c.AddResource(schemaBase+filepath.Base(f), doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return c
}

// manifests reads every manifest of the folder, by kind.
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind, _ := m["kind"].(string)
		if out[kind] != nil {
			t.Fatalf("%s: a second %s", f, kind)
		}
		out[kind] = m
	}
	return out
}

func validate(t *testing.T, c *jsonschema.Compiler, name string, m map[string]any) error {
	t.Helper()
	key := strings.TrimSpace(str(m, "apiVersion") + " " + str(m, "kind"))
	file, ok := schemaFor[key]
	if !ok {
		t.Fatalf("%s: no schema for %q", name, key)
	}
	sch, err := c.Compile(schemaBase + file)
	if err != nil {
		t.Fatalf("schema %s: %v", file, err)
	}
	// Through JSON again, so the values have the types the validator expects.
	data, _ := json.Marshal(m)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(doc)
}

// TestManifestsValid: every manifest passes its kind's schema, and the manifests agree
// with each other and with decilm serve: the Service, InferencePool and pod labels match,
// the ports match, the HPA scales the Deployment on the gauge /metrics exports, readiness
// is /health, and the grace period outlasts --shutdown-timeout.
func TestManifestsValid(t *testing.T) {
	c := compiler(t)
	ms := manifests(t)
	for _, kind := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "InferencePool", "HTTPRoute"} {
		m := ms[kind]
		if m == nil {
			t.Fatalf("no %s manifest", kind)
		}
		if err := validate(t, c, kind, m); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	dep := ms["Deployment"]
	pod := get(dep, "spec", "template").(map[string]any)
	podLabels := get(pod, "metadata", "labels").(map[string]any)
	matches := func(what string, sel any) {
		t.Helper()
		s, _ := sel.(map[string]any)
		if len(s) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range s {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v; the pods have %v", what, k, v, podLabels[k])
			}
		}
	}
	matches("Deployment", get(dep, "spec", "selector", "matchLabels"))
	matches("Service", get(ms["Service"], "spec", "selector"))
	matches("InferencePool", get(ms["InferencePool"], "spec", "selector", "matchLabels"))

	ctr := get(pod, "spec", "containers").([]any)[0].(map[string]any)
	args := strings.Join(toStrings(ctr["args"]), " ")
	port := get(ctr, "ports").([]any)[0].(map[string]any)
	if want := "--port " + num(port["containerPort"]); !strings.Contains(args, want) {
		t.Errorf("serve args %q do not listen on the container port (%s)", args, want)
	}
	if !strings.Contains(args, "--host 0.0.0.0") {
		t.Errorf("serve args %q listen on loopback only", args)
	}
	if tp := get(ms["InferencePool"], "spec", "targetPorts").([]any)[0].(map[string]any); num(tp["number"]) != num(port["containerPort"]) {
		t.Errorf("InferencePool targets port %v; the container listens on %v", tp["number"], port["containerPort"])
	}
	if p := get(ctr, "readinessProbe", "httpGet", "path"); p != "/health" {
		t.Errorf("readiness probe on %v, want /health", p)
	}
	grace, _ := get(pod, "spec", "terminationGracePeriodSeconds").(float64)
	sd := toStrings(ctr["args"])
	i := slices.Index(sd, "--shutdown-timeout")
	if i < 0 || i+1 >= len(sd) {
		t.Fatalf("serve args %q have no --shutdown-timeout", args)
	}
	d, err := time.ParseDuration(sd[i+1])
	if err != nil {
		t.Fatal(err)
	}
	preStop := 0.0
	if s, ok := get(ctr, "lifecycle", "preStop", "sleep", "seconds").(float64); ok {
		preStop = s
	}
	// serve drains for --shutdown-timeout, then cuts what runs (up to 5 s more).
	if need := preStop + d.Seconds() + 5; grace < need {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + --shutdown-timeout %v + 5 s", grace, preStop, d)
	}
	hpa := ms["HorizontalPodAutoscaler"]
	if ref := get(hpa, "spec", "scaleTargetRef", "name"); ref != str(get(dep, "metadata").(map[string]any), "name") {
		t.Errorf("HPA scales %v, not the Deployment", ref)
	}
	if name := get(hpa, "spec", "metrics").([]any)[0].(map[string]any)["pods"].(map[string]any)["metric"].(map[string]any)["name"]; name != "decilm_queue_depth" {
		t.Errorf("HPA metric %v, want decilm_queue_depth (server/metrics.go)", name)
	}
	route := ms["HTTPRoute"]
	be := get(route, "spec", "rules").([]any)[0].(map[string]any)["backendRefs"].([]any)[0].(map[string]any)
	if be["kind"] != "InferencePool" || be["name"] != str(get(ms["InferencePool"], "metadata").(map[string]any), "name") {
		t.Errorf("HTTPRoute backend %v is not the InferencePool", be)
	}
}

// TestSchemasRefuse: the schemas are not vacuous: a misspelt field, a wrong type, a
// value out of its pattern and a missing required field are each refused, in every kind.
func TestSchemasRefuse(t *testing.T) {
	c := compiler(t)
	spec := func(m map[string]any) map[string]any { return get(m, "spec").(map[string]any) }
	first := func(v any) map[string]any { return v.([]any)[0].(map[string]any) }
	for _, bad := range []struct {
		kind, what string
		edit       func(m map[string]any)
	}{
		{"Deployment", "a misspelt spec.replica", func(m map[string]any) { spec(m)["replica"] = 2 }},
		{"Deployment", `spec.replicas "two"`, func(m map[string]any) { spec(m)["replicas"] = "two" }},
		{"Deployment", "no spec.selector", func(m map[string]any) { delete(spec(m), "selector") }},
		{"Deployment", `containerPort "8080"`, func(m map[string]any) {
			first(first(get(m, "spec", "template", "spec", "containers"))["ports"])["containerPort"] = "8080"
		}},
		{"Deployment", "a container without a name", func(m map[string]any) {
			delete(first(get(m, "spec", "template", "spec", "containers")), "name")
		}},
		{"Service", "a port without its number", func(m map[string]any) { delete(first(spec(m)["ports"]), "port") }},
		{"Service", "a misspelt spec.selectors", func(m map[string]any) { spec(m)["selectors"] = spec(m)["selector"] }},
		{"HorizontalPodAutoscaler", "no spec.maxReplicas", func(m map[string]any) { delete(spec(m), "maxReplicas") }},
		{"HorizontalPodAutoscaler", `spec.minReplicas "2"`, func(m map[string]any) { spec(m)["minReplicas"] = "2" }},
		{"InferencePool", "no spec.targetPorts", func(m map[string]any) { delete(spec(m), "targetPorts") }},
		{"InferencePool", "an endpointPickerRef without a name", func(m map[string]any) {
			delete(spec(m)["endpointPickerRef"].(map[string]any), "name")
		}},
		{"InferencePool", "v1alpha2's targetPortNumber", func(m map[string]any) { spec(m)["targetPortNumber"] = 8080 }},
		{"InferencePool", "failureMode FailSafe", func(m map[string]any) {
			spec(m)["endpointPickerRef"].(map[string]any)["failureMode"] = "FailSafe"
		}},
		{"HTTPRoute", "a misspelt spec.rule", func(m map[string]any) { spec(m)["rule"] = []any{} }},
		{"HTTPRoute", "an InferencePool backendRef without a name", func(m map[string]any) {
			delete(first(first(spec(m)["rules"])["backendRefs"]), "name")
		}},
		{"HTTPRoute", `a request timeout "5 minutes"`, func(m map[string]any) {
			first(spec(m)["rules"])["timeouts"].(map[string]any)["request"] = "5 minutes"
		}},
	} {
		m := manifests(t)[bad.kind]
		bad.edit(m)
		if err := validate(t, c, bad.kind, m); err == nil {
			t.Errorf("%s with %s passed its schema", bad.kind, bad.what)
		}
	}
}

// TestStaticBinary: the build of the Dockerfile (CGO_ENABLED=0, -ldflags '-s -w') makes a
// static executable: no program interpreter, no shared libraries, so it runs on a
// distroless/static or scratch image.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the decilm binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks a Linux ELF file")
	}
	out := filepath.Join(t.TempDir(), "decilm")
	cmd := exec.Command("go", "build", "-ldflags", "-s -w", "-o", out, "github.com/decilm/decilm/cmd/decilm")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v segment: it is not static", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
}

func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func num(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
