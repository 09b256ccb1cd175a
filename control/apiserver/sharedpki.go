package apiserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// caKey holds the cluster CA in etcd, so that every `skiff server` sharing
// one etcd serves certificates of the same CA: kubeconfigs and node
// certificates from any server work against all of them. Whoever can read
// etcd can already read every Secret, so the key is stored as it is.
const caKey = "/registry/skiff/pki/ca"

type storedCA struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// LoadOrCreateSharedPKI is LoadOrCreatePKI for a server whose etcd may be
// shared: the first server's CA is published in etcd, later servers take it
// from there. A data directory whose CA differs from the cluster's is an
// error, never silently replaced.
func LoadOrCreateSharedPKI(ctx context.Context, cli *clientv3.Client, dataDir string, ips []net.IP, names []string) (*PKI, error) {
	dir := filepath.Join(dataDir, "pki")
	crtPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	for attempt := 0; attempt < 2; attempt++ {
		resp, err := cli.Get(ctx, caKey)
		if err != nil {
			return nil, fmt.Errorf("read the cluster CA from etcd: %w", err)
		}
		if len(resp.Kvs) == 1 {
			var ca storedCA
			if err := json.Unmarshal(resp.Kvs[0].Value, &ca); err != nil || ca.Cert == "" || ca.Key == "" {
				return nil, fmt.Errorf("the cluster CA in etcd (%s) is unreadable: %v", caKey, err)
			}
			local, err := os.ReadFile(crtPath)
			switch {
			case err == nil && !bytes.Equal(bytes.TrimSpace(local), bytes.TrimSpace([]byte(ca.Cert))):
				return nil, fmt.Errorf("the CA in %s is not the cluster's CA in etcd: this data directory belongs to another cluster; remove %s to join this one", dir, dir)
			case err != nil:
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return nil, err
				}
				if err := os.WriteFile(keyPath, []byte(ca.Key), 0o600); err != nil {
					return nil, err
				}
				if err := os.WriteFile(crtPath, []byte(ca.Cert), 0o644); err != nil {
					return nil, err
				}
			}
			return LoadOrCreatePKI(dataDir, ips, names)
		}
		// No cluster CA yet: this server's (existing or new) one becomes it.
		p, err := LoadOrCreatePKI(dataDir, ips, names)
		if err != nil {
			return nil, err
		}
		key, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, err
		}
		val, _ := json.Marshal(storedCA{Cert: string(p.CAPEM), Key: string(key)})
		tx, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(caKey), "=", 0)).Then(clientv3.OpPut(caKey, string(val))).Commit()
		if err != nil {
			return nil, fmt.Errorf("publish the cluster CA in etcd: %w", err)
		}
		if tx.Succeeded {
			return p, nil
		}
		// Another server published first: start over with its CA, dropping
		// the certificates this server just issued from its own.
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("could not agree on a cluster CA in etcd; restart the server")
}

// joinSecretsPrefix lists the join secrets of every server sharing this
// etcd (as SHA-256 hashes), so a token from `skiff token create` on any
// server joins through all of them.
const joinSecretsPrefix = "/registry/skiff/join-secrets/"

func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// publishJoinSecret puts this server's current join secret (from
// <data-dir>/token, which `skiff token create` writes) into etcd, now and
// every interval, until ctx ends.
func (s *Server) publishJoinSecret(ctx context.Context, cli *clientv3.Client, interval time.Duration) {
	last := ""
	for {
		if secret := s.joinSecret(); secret != "" && secret != last {
			if _, err := cli.Put(ctx, joinSecretsPrefix+secretHash(secret), "1"); err == nil {
				last = secret
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// sharedJoinSecret reports whether secret is a join secret another server
// published.
func (s *Server) sharedJoinSecret(ctx context.Context, secret string) bool {
	if s.etcd == nil || secret == "" {
		return false
	}
	resp, err := s.etcd.Get(ctx, joinSecretsPrefix+secretHash(secret), clientv3.WithCountOnly())
	return err == nil && resp.Count == 1
}
