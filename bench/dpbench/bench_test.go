package dpbench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffnet/skiff/internal/nstest"
)

// TestPrivilegedSmoke runs the whole harness at one service, one repetition
// and very short measurements, then checks the JSON it writes: every mode
// appears, every mode that loaded has every metric, nothing is left behind.
func TestPrivilegedSmoke(t *testing.T) {
	nstest.RequirePrivileged(t)
	cfg := DefaultConfig()
	cfg.Services = []int{1}
	cfg.Reps = 1
	cfg.Clients = 4
	cfg.ConnDur, cfg.LatDur, cfg.TputDur = 200*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "latest.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	if err := res.WritePNG(filepath.Join(t.TempDir(), "latest.png")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got Results
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{directName, "skiff", "iptables-legacy", "iptables-nft", "nftables"}
	if strings.Join(got.Modes, ",") != strings.Join(want, ",") {
		t.Fatalf("modes %v, want %v", got.Modes, want)
	}
	for _, mode := range want {
		row := got.row(mode, 1)
		if row == nil {
			t.Fatalf("no row for %s", mode)
		}
		if row.Missing != "" {
			if mode == directName || strings.HasPrefix(mode, "iptables") || mode == "nftables" {
				t.Errorf("%s is missing on a machine with its tools installed: %s", mode, row.Missing)
			} else {
				t.Logf("%s missing: %s", mode, row.Missing)
			}
			continue
		}
		for _, m := range Metrics {
			v, ok := row.Metrics[m.Name]
			if mode == directName && !m.Direct {
				if ok {
					t.Errorf("direct has %s, which it cannot measure", m.Name)
				}
				continue
			}
			if !ok || v.N != 1 || v.Median <= 0 {
				t.Errorf("%s %s = %+v, want one positive sample", mode, m.Name, v)
				continue
			}
			if m.Direct && (v.RatioToDirect == nil || v.RatioToDirect.Median <= 0) {
				t.Errorf("%s %s has no ratio to direct", mode, m.Name)
			}
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if got.Prefix == "" || strings.Contains(string(out), got.Prefix) {
		t.Errorf("namespaces of run %q left behind:\n%s", got.Prefix, out)
	}
	if _, err := os.Stat("/sys/fs/bpf/skiff/bench-" + got.Prefix); err == nil {
		t.Errorf("bpffs pins of run %s left behind", got.Prefix)
	}
}
