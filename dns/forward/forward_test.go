package forward

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

func TestUpstreamParsing(t *testing.T) {
	f := New([]string{"192.0.2.1", "192.0.2.2:5353", " ", "2001:db8::1", "[2001:db8::2]:54"}, 0)
	want := []string{"192.0.2.1:53", "192.0.2.2:5353", "[2001:db8::1]:53", "[2001:db8::2]:54"}
	got := f.Upstreams()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestFromResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("search x\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ups, err := FromResolvConf(p)
	if err != nil || len(ups) != 2 || ups[0] != "192.0.2.53:53" {
		t.Fatalf("got %v %v", ups, err)
	}
	if _, err := FromResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file gave no error")
	}
}

func TestNoUpstream(t *testing.T) {
	_, err := New(nil, 0).Exchange(context.Background(), dns.Question{Name: "x.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("got %v", err)
	}
}
