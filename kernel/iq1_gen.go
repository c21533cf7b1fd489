package kernel

//go:generate go run ./internal/asmgenk -iq1 -out iq1_amd64.s -stubs iq1_stubs_amd64.go -pkg kernel
