package containerd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigUsesOwnDirsAndSocket(t *testing.T) {
	o := Options{DataDir: "/var/lib/skiff-test"}
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	cfg := renderConfig(&o)
	for _, want := range []string{
		`root = "/var/lib/skiff-test/containerd/root"`,
		`state = "/var/lib/skiff-test/containerd/state"`,
		`address = "/var/lib/skiff-test/containerd/containerd.sock"`,
		`address = "/var/lib/skiff-test/containerd/containerd.sock.ttrpc"`,
		`"io.containerd.grpc.v1.cri"`,
		`path = "/var/lib/skiff-test/containerd/opt"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "/run/containerd") || strings.Contains(cfg, "/var/lib/containerd") {
		t.Errorf("config touches the system containerd's dirs:\n%s", cfg)
	}
}

func TestOptionsValidation(t *testing.T) {
	if err := (&Options{}).fill(); err == nil {
		t.Error("empty DataDir accepted")
	}
	long := &Options{DataDir: "/" + strings.Repeat("d", 120)}
	if err := long.fill(); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("over-long socket path: %v", err)
	}
	o := &Options{DataDir: "rel"}
	if err := o.fill(); err != nil || !strings.HasPrefix(o.Socket, "/") || o.Namespace != "skiff" || o.Binary != DefaultBinary {
		t.Errorf("defaults not filled: %+v %v", o, err)
	}
}

func TestEnsurePath(t *testing.T) {
	p := ensurePath("/opt/x")
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/opt/x"} {
		if !strings.Contains(":"+p+":", ":"+d+":") {
			t.Errorf("%s missing from %s", d, p)
		}
	}
	if ensurePath(p) != p {
		t.Error("ensurePath not idempotent")
	}
}

func TestStartRefusesForeignSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "foreign.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(context.Background(), Options{DataDir: dir, Socket: sock, Binary: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("Start on a socket someone else serves: %v", err)
	}
}
