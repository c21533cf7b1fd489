package kernel

//go:generate go run ./internal/asmgen -out kernel_amd64.s -stubs stubs_amd64.go -pkg kernel
