package kernel

//go:generate go run ./internal/asmgen -out kernel_amd64.s -stubs kernel_amd64_stubs.go -pkg kernel
