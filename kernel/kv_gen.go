package kernel

//go:generate go run ./internal/asmgenkv -out kv_amd64.s -stubs kv_stubs_amd64.go -pkg kernel
