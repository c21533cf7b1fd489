// Package kubernetes holds the Kubernetes manifests of a decilm fleet (a Deployment, a
// Service, a HorizontalPodAutoscaler on the queue gauge, and a Gateway API Inference
// Extension InferencePool with its HTTPRoute) and the tests that validate them against
// the official schemas of those kinds, vendored in testdata/schemas. It has no Go API;
// see README.md.
//
// go generate rewrites testdata/schemas from the upstream releases named in
// internal/schemagen (it needs them in the module cache or the Go module proxy); the
// tests only read the committed files.
package kubernetes

//go:generate go run -C internal/schemagen . -out ../../testdata/schemas
