package kernel

//go:generate go run ./internal/asmgenvnni -q4k -out vnniq4k_amd64.s -stubs vnniq4k_stubs_amd64.go -pkg kernel
