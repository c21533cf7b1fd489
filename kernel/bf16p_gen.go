package kernel

//go:generate go run ./internal/asmgenbf -out bf16p_amd64.s -stubs bf16p_stubs_amd64.go -pkg kernel
