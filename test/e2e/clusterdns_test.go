package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A stopped server withdraws its fallback DNS address from the kube-dns
// endpoints before its API goes away, so the Service never sends queries
// to a server that is gone.
func TestE2EServerWithdrawsClusterDNSOnStop(t *testing.T) {
	requireE2E(t)
	bin := skiffBinary(t)
	dir := t.TempDir()
	port, dnsPort := freePort(t), freePort(t)
	args := []string{bin, "server", "--data-dir", filepath.Join(dir, "server"),
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(port), "--advertise-address", "127.0.0.1"}
	c := &cluster{t: t, dir: dir, kubeconfig: filepath.Join(dir, "server", "admin.kubeconfig"), bin: bin,
		url: fmt.Sprintf("https://127.0.0.1:%d", port)}
	endpoint := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	endpoints := func() (string, error) {
		return c.kubectlErr("get", "endpoints", "-n", "kube-system", "kube-dns",
			"-o", `jsonpath={range .subsets[*]}{range .addresses[*]}{.ip}{end}:{.ports[0].port} {end}`)
	}

	first := daemon(t, dir, "server", append(args, "--dns-port", fmt.Sprint(dnsPort))...)
	c.eventually("the fallback DNS address published in kube-dns", 60*time.Second, func() error {
		out, err := endpoints()
		if err != nil {
			return err
		}
		if !strings.Contains(out, endpoint) {
			return fmt.Errorf("kube-dns endpoints %q lack %s", out, endpoint)
		}
		return nil
	})
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { _, err := first.Process.Wait(); exited <- err }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("skiff server did not stop within 30s of SIGTERM")
	}

	// The same data, served again without DNS: what the first one left.
	daemon(t, dir, "server", append(args, "--dns-port", "0")...)
	c.eventually("the restarted server ready", 60*time.Second, func() error {
		_, err := c.kubectlErr("get", "--raw", "/readyz")
		return err
	})
	out, err := endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, endpoint) {
		t.Fatalf("kube-dns endpoints still hold the stopped server's DNS address %s: %q", endpoint, out)
	}
}
