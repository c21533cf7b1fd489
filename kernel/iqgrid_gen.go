package kernel

//go:generate go run ./internal/asmgenk -iqgrid -out iqgrid_amd64.s -stubs iqgrid_stubs_amd64.go -pkg kernel
