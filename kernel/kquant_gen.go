package kernel

//go:generate go run ./internal/asmgenk -out kquant_amd64.s -stubs kquant_stubs_amd64.go -pkg kernel
//go:generate go run ./internal/asmgenk -avx512 -out kquant512_amd64.s -stubs kquant512_stubs_amd64.go -pkg kernel
