package kernel

//go:generate go run ./internal/asmgenvnni -iq4xs -out vnniiq4_amd64.s -stubs vnniiq4_stubs_amd64.go -pkg kernel
