package bench_test

import (
	"os"

	"github.com/decilm/decilm/bench"
)

// ExampleWriteMarkdown prints records as llama-bench's table (bench.Run and bench.Card make
// the records from a model).
func ExampleWriteMarkdown() {
	recs := []bench.Record{
		{ModelType: "deci 1B Q4_0", ModelSize: 700 << 20, ModelParams: 1_100_048_384, Backends: "CPU", NThreads: 2, Test: "pp128", AvgTs: 61.237, StddevTs: 0.4},
		{ModelType: "deci 1B Q4_0", ModelSize: 700 << 20, ModelParams: 1_100_048_384, Backends: "CPU", NThreads: 2, Test: "tg32 x16 seq", AvgTs: 40.5, StddevTs: 1.25},
	}
	bench.WriteMarkdown(os.Stdout, recs)
	// Output:
	// | model                          |       size |     params | backend    | threads |          test |                  t/s |
	// | ------------------------------ | ---------: | ---------: | ---------- | ------: | ------------: | -------------------: |
	// | deci 1B Q4_0                   | 700.00 MiB |     1.10 B | CPU        |       2 |         pp128 |         61.24 ± 0.40 |
	// | deci 1B Q4_0                   | 700.00 MiB |     1.10 B | CPU        |       2 |  tg32 x16 seq |         40.50 ± 1.25 |
}
