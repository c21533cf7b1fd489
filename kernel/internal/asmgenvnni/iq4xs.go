package main

// genIQ4XS generates the AVX-VNNI kernels for packed IQ4_XS weights.
func genIQ4XS() {}
