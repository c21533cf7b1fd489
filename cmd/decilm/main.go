// Command decilm runs, serves, evaluates, benchmarks and converts DeciLM and Llama models.
//
// Usage:
//
//	decilm <command> [flags] [arguments]
//
// Run "decilm help" for the list of commands and "decilm <command> -h" for one command's
// flags. Each command lives in its own file of this package and registers itself in init.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of decilm.
type command struct {
	name    string
	summary string // one line for "decilm help"
	// run executes the command with its arguments (after the command name).
	run func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch of the outside world; tests substitute buffers.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// interrupt, when not nil, receives a value on each Ctrl-C (SIGINT) for commands that
	// handle it themselves (chat); others are cancelled through ctx.
	interrupt <-chan os.Signal
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("decilm: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error caused by wrong arguments; main exits with status 2 for it.
var errUsage = errors.New("usage")

// usageError formats a message that ends in a usage exit.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	// DECILM_CPUPROFILE=file writes a pprof CPU profile of the whole run.
	if p := os.Getenv("DECILM_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := runMain(ctx, e, os.Args[1:])
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	os.Exit(runMain(ctx, e, os.Args[1:]))
}

// runMain dispatches to a command and returns the process exit status.
func runMain(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				_ = c.run(ctx, e, []string{"-h"})
				return 0
			}
		}
		printHelp(e.stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "decilm: unknown command %q; run \"decilm help\"\n", args[0])
		return 2
	}
	err := c.run(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "decilm %s: %s\n", c.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return 2
	default:
		fmt.Fprintf(e.stderr, "decilm %s: %v\n", c.name, err)
		return 1
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "decilm: run, serve, evaluate and benchmark DeciLM and Llama models on the CPU.")
	fmt.Fprintln(w, "\nUsage: decilm <command> [flags] [arguments]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"decilm <command> -h\" for a command's flags.")
}

// newFlags returns a FlagSet for a command that reports errors instead of exiting and
// prints its usage to the command's stderr.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("decilm "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: decilm %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors. Flags may follow
// positional arguments (as in "decilm run 'prompt' -n 10").
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
		if len(args) > 0 && args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
	}
	// Re-parse nothing: leave positionals in fs by a final Parse of "--" + pos.
	return fs.Parse(append([]string{"--"}, pos...))
}
