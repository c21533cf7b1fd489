package kernel

//go:generate go run ./internal/asmgenbfz -out bf16z_amd64.s -stubs bf16z_stubs_amd64.go -pkg kernel
