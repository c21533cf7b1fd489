package kernel

//go:generate go run ./internal/asmgenk -out kquant_amd64.s -stubs kquant_stubs_amd64.go -pkg kernel
