package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/decilm/decilm/kernel"
)

func init() {
	register(&command{name: "version", summary: "print the version, the Go toolchain and the kernels chosen for this CPU", run: runVersion})
}

// versionInfo is what decilm version prints.
type versionInfo struct {
	Version  string       `json:"version"`            // the module version, "(devel)" for a build from a work tree
	Revision string       `json:"revision,omitempty"` // the VCS commit
	Time     string       `json:"time,omitempty"`     // the commit's time
	Dirty    bool         `json:"dirty"`              // built with uncommitted changes
	Go       string       `json:"go"`
	Platform string       `json:"platform"`
	Features string       `json:"cpu_features"`
	Kernels  []kernelLine `json:"kernels"`
}

type kernelLine struct {
	DType  string `json:"type"`
	Rows   string `json:"rows"`
	ISA    string `json:"isa"`
	Kernel string `json:"kernel"`
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "[--json]")
	asJSON := fs.Bool("json", false, "print a JSON object instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("takes no arguments, have %q", fs.Args())
	}
	v := versionInfo{Version: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Features: kernel.Features()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Dirty = s.Value == "true"
			}
		}
	}
	for _, p := range kernel.Paths() {
		rows := "1"
		if p.Rows > 1 {
			rows = ">1"
		}
		v.Kernels = append(v.Kernels, kernelLine{p.DType.String(), rows, p.ISA, p.Kernel})
	}
	if *asJSON {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(append(b, '\n'))
		return err
	}
	rev := v.Revision
	if rev == "" {
		rev = "unknown"
	}
	if v.Dirty {
		rev += " (modified)"
	}
	if v.Time != "" {
		rev += ", " + v.Time
	}
	features := v.Features
	if features == "" {
		features = "none the kernels use"
	}
	fmt.Fprintf(e.stdout, "decilm %s\ncommit:       %s\ngo:           %s %s\ncpu features: %s\nmatrix kernels (weight type, activation rows, ISA, kernel):\n",
		v.Version, rev, v.Go, v.Platform, features)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, k := range v.Kernels {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.DType, k.Rows, k.ISA, k.Kernel)
	}
	return tw.Flush()
}
