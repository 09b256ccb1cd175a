package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/dataplane/loader"
)

func init() {
	register("bpf", "inspect the pinned eBPF dataplane: lb list, ct list, stats, remove", runBPF)
}

const bpfUsage = `usage: skiff bpf <lb list | ct list | stats | remove> [-node NAME] [-pin-root DIR]

  lb list   services: VIP:port/proto -> backends (like 'cilium bpf lb list')
  ct list   tracked flows with their translation
  stats     packet counters, including named drop reasons
  remove    detach the node's pinned links and delete its pins`

func runBPF(args []string) error {
	var words []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		words, args = append(words, args[0]), args[1:]
	}
	fs := flag.NewFlagSet("bpf", flag.ContinueOnError)
	node := fs.String("node", "", "node whose pins to read (default: the only one under -pin-root)")
	root := fs.String("pin-root", loader.DefaultPinRoot, "bpffs directory holding one directory per node")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, bpfUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmd := strings.Join(words, " ")
	switch cmd {
	case "lb list", "ct list", "stats", "remove":
	default:
		fs.Usage()
		return fmt.Errorf("unknown bpf command %q: use one listed above", cmd)
	}
	n, err := pickNode(*root, *node)
	if err != nil {
		return err
	}
	if cmd == "remove" {
		if err := loader.RemovePins(*root, n); err != nil {
			return err
		}
		fmt.Printf("removed pins of node %s\n", n)
		return nil
	}
	m, err := loader.OpenPinnedMaps(*root, n)
	if err != nil {
		return err
	}
	defer m.Close()
	switch cmd {
	case "lb list":
		return printLB(os.Stdout, m)
	case "ct list":
		return printCT(os.Stdout, m)
	}
	st, err := m.ReadStats()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(st))
	for k := range st {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Printf("%-28s %d\n", k, st[k])
	}
	return nil
}

func pickNode(root, node string) (string, error) {
	if node != "" {
		return node, nil
	}
	nodes, err := loader.PinnedNodes(root)
	if err != nil {
		return "", err
	}
	switch len(nodes) {
	case 0:
		return "", fmt.Errorf("no dataplane pinned under %s: start the agent (or 'skiff dev demo -keep') first", root)
	case 1:
		return nodes[0], nil
	}
	return "", fmt.Errorf("several nodes pinned under %s (%s): pick one with -node", root, strings.Join(nodes, ", "))
}

func printLB(w io.Writer, m *lb.Maps) error {
	svcs, err := m.ListServices()
	if err != nil {
		return err
	}
	backends, err := m.ListBackends()
	if err != nil {
		return err
	}
	sort.Slice(svcs, func(i, j int) bool {
		a, b := svcs[i].Key, svcs[j].Key
		if c := a.VIP.Compare(b.VIP); c != 0 {
			return c < 0
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Proto < b.Proto
	})
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "SERVICE ADDRESS\tBACKEND ADDRESS (ID)\tFLAGS")
	for _, s := range svcs {
		var flags []string
		flags = append(flags, fmt.Sprintf("id=%d", s.Entry.ID))
		if s.Entry.Maglev {
			flags = append(flags, "maglev")
		} else {
			flags = append(flags, "random")
		}
		if s.Entry.Affinity {
			flags = append(flags, "affinity="+s.Entry.AffinityTimeout.String())
		}
		first := s.Key.String()
		if s.Entry.Count == 0 {
			fmt.Fprintf(tw, "%s\t(no endpoints: rejected)\t%s\n", first, strings.Join(flags, ","))
			continue
		}
		for i := uint16(0); i < s.Entry.Count; i++ {
			id, ok, err := m.Slot(s.Entry.ID, s.Entry.Gen, i)
			if err != nil {
				return err
			}
			desc := "(missing slot)"
			if ok {
				if b, ok := backends[id]; ok {
					desc = fmt.Sprintf("%s:%d (%d)", b.Addr, b.Port, id)
				} else {
					desc = fmt.Sprintf("(missing backend %d)", id)
				}
			}
			fl := ""
			if i == 0 {
				fl = strings.Join(flags, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", first, desc, fl)
			first = ""
		}
	}
	return tw.Flush()
}

func printCT(w io.Writer, m *lb.Maps) error {
	recs, err := m.ListCT()
	if err != nil {
		return err
	}
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i].Key, recs[j].Key
		if a.Reply != b.Reply {
			return !a.Reply
		}
		if c := a.Src.Compare(b.Src); c != 0 {
			return c < 0
		}
		return a.SrcPort < b.SrcPort
	})
	now := lb.Monotonic()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tPROTO\tPACKET TUPLE\tTRANSLATED TO\tBACKEND\tEXPIRES\tFLAGS")
	for _, r := range recs {
		k, e := r.Key, r.Entry
		tuple := fmt.Sprintf("%s:%d -> %s:%d", k.Src, k.SrcPort, k.Dst, k.DstPort)
		var xl, dir string
		if k.Reply {
			dir = "reply"
			xl = fmt.Sprintf("%s:%d -> %s:%d", e.NATAddr, e.NATPort, e.RevAddr, e.RevPort)
		} else {
			dir = "fwd"
			xl = fmt.Sprintf("%s:%d -> %s:%d", e.RevAddr, e.RevPort, e.NATAddr, e.NATPort)
		}
		var flags []string
		if e.Hairpin {
			flags = append(flags, "hairpin")
		}
		if e.Closing {
			flags = append(flags, "closing")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", dir, lb.ProtoName(k.Proto), tuple, xl, e.BackendID,
			((e.Expires - now) / time.Second * time.Second).String(), strings.Join(flags, ","))
	}
	return tw.Flush()
}
