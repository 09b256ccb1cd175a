package storage

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"

	"github.com/skiffnet/skiff/internal/freeport"
)

// Embedded is an etcd server running inside this process.
type Embedded struct {
	Etcd *embed.Etcd
	// Client calls etcd in process (it has no endpoints); ClientURL is
	// where etcd serves other clients.
	Client    *clientv3.Client
	ClientURL string
}

// Close stops the client and the server.
func (e *Embedded) Close() {
	if e.Client != nil {
		e.Client.Close()
	}
	if e.Etcd != nil {
		e.Etcd.Close()
		<-e.Etcd.Server.StopNotify()
	}
}

// StartEmbedded starts an etcd member whose data lives in dir/etcd. It
// listens only on loopback: clientURL and peerURL may be empty, in which case
// free ports on 127.0.0.1 are chosen.
func StartEmbedded(dir, clientURL, peerURL string) (*Embedded, error) {
	if clientURL == "" {
		p, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		clientURL = fmt.Sprintf("http://127.0.0.1:%d", p)
	}
	if peerURL == "" {
		p, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		peerURL = fmt.Sprintf("http://127.0.0.1:%d", p)
	}
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL %q: %w", clientURL, err)
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd peer URL %q: %w", peerURL, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create etcd data dir: %w (check permissions or pass --data-dir)", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"
	cfg.QuotaBackendBytes = 2 << 30
	// One member and no followers to catch up: keep fewer raft entries in
	// memory between snapshots than etcd's cluster defaults (10 000 + 5 000).
	cfg.SnapshotCount = 5000
	cfg.SnapshotCatchUpEntries = 1000
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w (is another skiff server using this data dir?)", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s not ready after 60s; check disk space and the data dir", cfg.Dir)
	}
	// The server's own client calls etcd's request handlers in process:
	// no gRPC, HTTP/2 or socket between them, which took about a third of
	// the server's CPU when 30 pods start at once. etcd still serves its
	// client URL for etcdctl and backups.
	cli := v3client.New(e.Server)
	slog.Info("embedded etcd ready", "dir", cfg.Dir, "client", cu.String())
	return &Embedded{Etcd: e, Client: cli, ClientURL: cu.String()}, nil
}

// TLSFiles names the client TLS material for an external etcd.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Connect dials an external etcd cluster.
func Connect(endpoints []string, tf TLSFiles) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()}
	if tf.CAFile != "" || tf.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if tf.CAFile != "" {
			pem, err := os.ReadFile(tf.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read --etcd-cafile: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--etcd-cafile %s holds no PEM certificate", tf.CAFile)
			}
			tc.RootCAs = pool
		}
		if tf.CertFile != "" {
			c, err := tls.LoadX509KeyPair(tf.CertFile, tf.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("load --etcd-certfile/--etcd-keyfile: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	return cli, nil
}
