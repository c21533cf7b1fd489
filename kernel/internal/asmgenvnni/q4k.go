package main

// genQ4K generates the AVX-VNNI kernels for packed Q4_K and Q5_K weights.
func genQ4K() {}
