package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	ctrd "github.com/containerd/containerd"

	nodectrd "github.com/skiffnet/skiff/node/containerd"
)

func init() {
	register("image", "import OCI/docker image archives into containerd offline; list images", runImage)
}

const imageUsage = `usage:
  skiff image import FILE.tar... [--address SOCK] [--namespace skiff] [--data-dir DIR]
  skiff image ls [--address SOCK] [--namespace skiff] [--data-dir DIR]

FILE.tar is an OCI image layout or a 'docker save' archive ('-' reads stdin).
Without --address the agent's containerd socket under --data-dir is used; if
nothing listens there, a temporary containerd is started on that data dir for
the import and stopped afterwards, so images can be loaded before the agent runs.`

type imageFlags struct {
	address, namespace, dataDir string
}

func runImage(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, imageUsage)
		if len(args) == 0 {
			return errors.New("missing subcommand: import or ls")
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	var f imageFlags
	fs := flag.NewFlagSet("image "+sub, flag.ContinueOnError)
	fs.StringVar(&f.address, "address", "", "containerd socket (default DATA-DIR/containerd/containerd.sock)")
	fs.StringVar(&f.namespace, "namespace", nodectrd.Namespace, "containerd namespace")
	fs.StringVar(&f.dataDir, "data-dir", "/var/lib/skiff", "agent data directory")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, imageUsage); fs.PrintDefaults() }
	// Accept flags before, between and after file names.
	var files []string
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch sub {
	case "import":
		if len(files) == 0 {
			return errors.New("import needs at least one FILE.tar (build Skiff's test images with 'make images')")
		}
		return imageImport(ctx, f, files)
	case "ls", "list":
		if len(files) != 0 {
			return fmt.Errorf("ls takes no arguments, got %q", files)
		}
		return imageList(ctx, f)
	}
	return fmt.Errorf("unknown image subcommand %q: want import or ls", sub)
}

// connect returns a client and a function to call when done. If no address
// was given and nothing listens on the data dir's socket, it starts a
// temporary containerd there.
func connect(ctx context.Context, f imageFlags) (*ctrd.Client, func(), error) {
	addr := f.address
	if addr == "" {
		addr = nodectrd.DefaultSocket(f.dataDir)
	}
	if c, err := net.DialTimeout("unix", addr, 2*time.Second); err == nil {
		c.Close()
		client, err := ctrd.New(addr, ctrd.WithDefaultNamespace(f.namespace))
		if err != nil {
			return nil, nil, fmt.Errorf("connect to containerd at %s: %w", addr, err)
		}
		return client, func() { client.Close() }, nil
	} else if f.address != "" {
		return nil, nil, fmt.Errorf("no containerd at %s: %v (is it running? omit --address to use a temporary one on --data-dir)", addr, err)
	}
	fmt.Fprintf(os.Stderr, "no containerd at %s; starting a temporary one on %s\n", addr, f.dataDir)
	d, err := nodectrd.Start(ctx, nodectrd.Options{DataDir: f.dataDir, Namespace: f.namespace})
	if err != nil {
		return nil, nil, err
	}
	return d.Client(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = d.Stop(sctx)
	}, nil
}

func imageImport(ctx context.Context, f imageFlags, files []string) error {
	client, done, err := connect(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	for _, name := range files {
		var r io.Reader = os.Stdin
		if name != "-" {
			file, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("%w (build Skiff's test images with 'make images')", err)
			}
			defer file.Close()
			r = file
		}
		fmt.Fprintf(os.Stderr, "importing %s ...\n", name)
		imgs, err := nodectrd.Import(ctx, client, f.namespace, r, "")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, img := range imgs {
			fmt.Printf("imported %s %s\n", img.Name, img.Digest)
		}
	}
	return nil
}

func imageList(ctx context.Context, f imageFlags) error {
	client, done, err := connect(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	imgs, err := nodectrd.ListImages(ctx, client, f.namespace)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE")
	for _, img := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", img.Name, shortDigest(img.Digest.String()), humanSize(img.Size))
	}
	return tw.Flush()
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
