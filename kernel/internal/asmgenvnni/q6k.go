package main

// genQ6K generates the AVX-VNNI kernels for Q6_K block format weights.
func genQ6K() {}
