package apiserver

import (
	"context"
	"net"
	"testing"
)

// startTest runs a full server (embedded etcd, TLS, bootstrap) on loopback.
func startTest(t *testing.T) *Running {
	t.Helper()
	dir := t.TempDir()
	run, err := Start(context.Background(), Options{DataDir: dir, BindAddress: "127.0.0.1", SecurePort: 0,
		AdvertiseIP: net.ParseIP("127.0.0.1"), ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.Close)
	return run
}
