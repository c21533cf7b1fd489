package finetune

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/decilm/decilm/internal/atomicfile"
)

// WriteLossCSV writes the loss log as CSV: a header, then one row per optimiser step
// (kind "train": step, epoch, loss, lr, grad_norm, tokens) and one per evaluation (kind
// "eval": step, epoch, loss, tokens), in step order with each evaluation after its step.
func WriteLossCSV(path string, log []StepEntry, eval []EvalEntry) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
		it := strconv.Itoa
		if err := cw.Write([]string{"kind", "step", "epoch", "loss", "lr", "grad_norm", "tokens"}); err != nil {
			return err
		}
		ei := 0
		flushEval := func(step int) error {
			for ; ei < len(eval) && eval[ei].Step <= step; ei++ {
				e := eval[ei]
				if err := cw.Write([]string{"eval", it(e.Step), it(e.Epoch), f(e.Loss), "", "", it(e.Tokens)}); err != nil {
					return err
				}
			}
			return nil
		}
		if err := flushEval(0); err != nil {
			return err
		}
		for _, l := range log {
			if err := cw.Write([]string{"train", it(l.Step), it(l.Epoch), f(l.Loss), f(l.LR), f(l.GradNorm), it(l.Tokens)}); err != nil {
				return err
			}
			if err := flushEval(l.Step); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// WriteLossPNG draws the training loss per step and the held-out loss per evaluation
// against the optimiser step, as a PNG image (gonum/plot).
func WriteLossPNG(path string, log []StepEntry, eval []EvalEntry) error {
	p := plot.New()
	p.Title.Text = "fine-tuning loss"
	p.X.Label.Text = "optimiser step"
	p.Y.Label.Text = "cross-entropy (nats/token)"
	p.Add(plotter.NewGrid())
	if len(log) > 0 {
		xy := make(plotter.XYs, len(log))
		for i, l := range log {
			xy[i] = plotter.XY{X: float64(l.Step), Y: l.Loss}
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			return fmt.Errorf("finetune: loss plot: %w", err)
		}
		line.Color = plotColor(0)
		p.Add(line)
		p.Legend.Add("train", line)
	}
	if len(eval) > 0 {
		xy := make(plotter.XYs, len(eval))
		for i, e := range eval {
			xy[i] = plotter.XY{X: float64(e.Step), Y: e.Loss}
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("finetune: loss plot: %w", err)
		}
		line.Color, points.Color = plotColor(1), plotColor(1)
		p.Add(line, points)
		p.Legend.Add("held-out", line, points)
	}
	p.Legend.Top = true
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("finetune: loss plot: %w", err)
	}
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// plotColor returns the i-th colour of the loss plot's lines.
func plotColor(i int) color.Color {
	return []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	}[i%2]
}
