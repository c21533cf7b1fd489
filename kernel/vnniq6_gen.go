package kernel

//go:generate go run ./internal/asmgenvnni -q6k -out vnniq6_amd64.s -stubs vnniq6_stubs_amd64.go -pkg kernel
