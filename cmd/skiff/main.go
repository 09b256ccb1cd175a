// Command skiff is the single Skiff binary: control plane, node agent, DNS,
// BPF inspection and developer tools, each a subcommand.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"k8s.io/klog/v2"
)

// command is one subcommand. Each lives in its own file and registers itself
// from an init function, so packages can add commands without touching main.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("skiff: duplicate subcommand " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: skiff <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'skiff <command> -h' for a command's flags.")
}

func main() {
	setupLogging(os.Stderr, logLevel())
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "skiff: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "skiff %s: %v\n", cmd.name, err)
		os.Exit(1)
	}
}

// setupLogging makes slog write text lines to w at level and up. client-go
// and the other Kubernetes libraries log through klog: that goes through
// slog too, so every line of a daemon's log has one format.
func setupLogging(w io.Writer, level slog.Level) {
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
	klog.SetSlogLogger(slog.Default())
}

func logLevel() slog.Level {
	switch strings.ToLower(os.Getenv("SKIFF_LOG_LEVEL")) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
