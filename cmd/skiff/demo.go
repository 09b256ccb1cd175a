package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/skiffnet/skiff/dataplane/lab"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/internal/nstest"
)

func init() {
	registerDev("demo", "a ClusterIP balancing across 3 backends in network namespaces (root)", runDemo)
}

func runDemo(args []string) error {
	fs := flag.NewFlagSet("dev demo", flag.ContinueOnError)
	requests := fs.Int("requests", 30, "requests to send")
	keep := fs.Bool("keep", false, "keep the namespaces until Ctrl-C (inspect with 'skiff bpf lb list')")
	maglev := fs.Bool("maglev", false, "use Maglev instead of random backend choice")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo creates network namespaces and loads BPF: run it as root (sudo)")
	}
	c := &nstest.Cleaner{}
	defer c.Cleanup()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	if !*keep {
		// Ctrl-C mid-demo still removes every namespace and pin.
		go func() {
			<-sig
			c.Cleanup()
			os.Exit(130)
		}()
	}

	fmt.Println("building namespaces: client -> node (eBPF dataplane) -> 3 backends ...")
	l, err := lab.New(c, 3)
	if err != nil {
		return err
	}
	dp, err := l.Open(loader.Options{})
	if err != nil {
		return err
	}
	c.Add(func() { _ = dp.Remove() })
	fmt.Printf("dataplane attached in %s on %v, pinned at %s\n", l.Node.Name, l.Ifaces, dp.PinDir())
	rec, err := services.NewReconciler(dp.Maps())
	if err != nil {
		return err
	}
	vip := netip.MustParseAddr("10.96.0.10")
	svc := l.Service(vip, services.TCP, 80, 1, 2, 3)
	if *maglev {
		svc.Algorithm = services.Maglev
	}
	if err := rec.Upsert(svc); err != nil {
		return err
	}
	fmt.Printf("ClusterIP %s:80/TCP -> %v\n\n", vip, svc.Backends)

	counts := map[string]int{}
	for i := 1; i <= *requests; i++ {
		conn, _, name, err := lab.Dial(l.Client, netip.AddrPortFrom(vip, 80))
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		local := conn.LocalAddr().String()
		conn.Close()
		counts[name]++
		fmt.Printf("request %2d from %-16s answered by %s\n", i, local, name)
	}
	fmt.Println("\nper backend:")
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("  %s  %3d  %s\n", n, counts[n], bar(counts[n]))
	}
	fmt.Println("\nskiff bpf lb list:")
	if err := printLB(os.Stdout, dp.Maps()); err != nil {
		return err
	}
	if *keep {
		fmt.Printf("\nkept running; in another shell: skiff bpf lb list -node %s ; skiff bpf ct list -node %s\nCtrl-C removes everything.\n", l.Topo.Prefix, l.Topo.Prefix)
		<-sig
	}
	fmt.Println("\ncleaning up namespaces and pins")
	return nil
}

func bar(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '#'
	}
	return string(b)
}
