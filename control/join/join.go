package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiffnet/skiff/control/apiserver"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigName is the file Join writes inside dir.
const KubeconfigName = "node.kubeconfig"

// Join returns the path of a kubeconfig for nodeName on server. An existing
// one in dir for the same server is reused; otherwise the CA is fetched,
// checked against the token and a new key is certified by the server.
func Join(ctx context.Context, server, token, nodeName, dir string) (string, error) {
	server = strings.TrimRight(server, "/")
	kcPath := filepath.Join(dir, KubeconfigName)
	if cfg, err := clientcmd.LoadFromFile(kcPath); err == nil {
		for _, c := range cfg.Clusters {
			if c.Server == server {
				return kcPath, nil
			}
		}
	}
	caHash, secret, err := apiserver.ParseJoinToken(token)
	if err != nil {
		return "", err
	}
	caPEM, err := fetchCA(ctx, server, caHash)
	if err != nil {
		return "", err
	}
	key, csrPEM, err := newKeyAndCSR(nodeName)
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, _ := json.Marshal(apiserver.JoinRequest{NodeName: nodeName, CSR: string(csrPEM)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/skiff/v1/join", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("join %s: %w (is the server reachable from this node?)", server, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("join %s: %s: %s (create a fresh token with `skiff token create` on the server)", server, resp.Status, strings.TrimSpace(string(rb)))
	}
	var jr apiserver.JoinResponse
	if err := json.Unmarshal(rb, &jr); err != nil || jr.Certificate == "" {
		return "", fmt.Errorf("join %s: unreadable answer: %v", server, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	files := map[string][]byte{"node.key": key, "node.crt": []byte(jr.Certificate), "ca.crt": caPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["skiff"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte(jr.Certificate), ClientKeyData: key}
	cfg.Contexts["skiff"] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: "node"}
	cfg.CurrentContext = "skiff"
	if err := clientcmd.WriteToFile(*cfg, kcPath); err != nil {
		return "", fmt.Errorf("write %s: %w", kcPath, err)
	}
	return kcPath, nil
}

// fetchCA downloads /cacerts without trusting the server, then accepts the
// CA only if its DER hash equals the token's.
func fetchCA(ctx context.Context, server, wantHash string) ([]byte, error) {
	insecure := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		// Not trusted yet: the hash check below is what authenticates it.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/cacerts", nil)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", server, err)
	}
	resp, err := insecure.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w (is the server reachable from this node?)", server, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch CA from %s: %s", server, resp.Status)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s/cacerts did not return a PEM certificate", server)
	}
	sum := sha256.Sum256(blk.Bytes)
	if got := hex.EncodeToString(sum[:]); got != wantHash {
		return nil, fmt.Errorf("server %s presents a CA (sha256 %s) that does not match the join token (%s): wrong server, or a token from another cluster; nothing was sent", server, got[:16]+"…", wantHash[:16]+"…")
	}
	return b, nil
}

func newKeyAndCSR(nodeName string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), nil
}
