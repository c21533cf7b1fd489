package kernel

//go:generate go run ./internal/asmgenkp -out kp_amd64.s -stubs kp_stubs_amd64.go -pkg kernel
