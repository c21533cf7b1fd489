// Package kubernetes holds the Kubernetes manifests of a decilm fleet (a Deployment, a
// Service, a HorizontalPodAutoscaler on the queue gauge, and a Gateway API Inference
// Extension InferencePool with its HTTPRoute) and the tests that validate them against
// the JSON schemas in testdata/schemas. It has no Go API; see README.md.
package kubernetes
