package apiserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// PKI is the cluster CA plus the server, admin and kubelet-client key
// pairs, kept as PEM files under <data-dir>/pki.
type PKI struct {
	Dir       string
	CACert    *x509.Certificate
	CAKey     crypto.Signer
	CAPEM     []byte
	Server    tls.Certificate
	AdminCert []byte
	AdminKey  []byte
	// KubeletClient is the certificate the API server presents to kubelets
	// (CN KubeletClientCN), from apiserver-kubelet-client.crt/.key.
	KubeletClient tls.Certificate
}

// CAHash is the hex SHA-256 of the CA certificate's DER bytes, the value a
// join token carries so an agent can check the server before trusting it.
func (p *PKI) CAHash() string {
	sum := sha256.Sum256(p.CACert.Raw)
	return hex.EncodeToString(sum[:])
}

func writePEM(path, typ string, der []byte, mode os.FileMode) ([]byte, error) {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	return b, os.WriteFile(path, b, mode)
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	return k, der, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

// LoadOrCreatePKI loads <dataDir>/pki or creates it on first start. The
// server certificate is re-issued when sans are not all covered.
func LoadOrCreatePKI(dataDir string, ips []net.IP, dnsNames []string) (*PKI, error) {
	dir := filepath.Join(dataDir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w (check permissions of --data-dir)", dir, err)
	}
	p := &PKI{Dir: dir}
	caCrt, caKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if _, err := os.Stat(caCrt); errors.Is(err, os.ErrNotExist) {
		k, der, err := newKey()
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: "skiff-ca"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true, IsCA: true,
		}
		cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			return nil, err
		}
		if _, err := writePEM(caKey, "EC PRIVATE KEY", der, 0o600); err != nil {
			return nil, err
		}
		if _, err := writePEM(caCrt, "CERTIFICATE", cder, 0o644); err != nil {
			return nil, err
		}
	}
	pair, err := tls.LoadX509KeyPair(caCrt, caKey)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA from %s: %w (remove %s to start a new cluster)", dir, err, dir)
	}
	p.CACert, _ = x509.ParseCertificate(pair.Certificate[0])
	p.CAKey = pair.PrivateKey.(crypto.Signer)
	p.CAPEM, _ = os.ReadFile(caCrt)

	srvCrt, srvKey := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if sp, err := tls.LoadX509KeyPair(srvCrt, srvKey); err == nil && covers(sp, ips, dnsNames) {
		p.Server = sp
	} else {
		if err := p.issue(srvCrt, srvKey, pkix.Name{CommonName: "skiff-apiserver"}, x509.ExtKeyUsageServerAuth, ips, dnsNames); err != nil {
			return nil, err
		}
		if p.Server, err = tls.LoadX509KeyPair(srvCrt, srvKey); err != nil {
			return nil, err
		}
	}
	admCrt, admKey := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if _, err := os.Stat(admCrt); errors.Is(err, os.ErrNotExist) {
		if err := p.issue(admCrt, admKey, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil); err != nil {
			return nil, err
		}
	}
	if p.AdminCert, err = os.ReadFile(admCrt); err != nil {
		return nil, err
	}
	if p.AdminKey, err = os.ReadFile(admKey); err != nil {
		return nil, err
	}
	if p.KubeletClient, err = p.loadOrIssueKubeletClient(); err != nil {
		return nil, err
	}
	return p, nil
}

// loadOrIssueKubeletClient loads apiserver-kubelet-client.crt/.key, and
// issues them (client auth, CN KubeletClientCN) when missing, unreadable or
// within 30 days of expiry.
func (p *PKI) loadOrIssueKubeletClient() (tls.Certificate, error) {
	crt, key := filepath.Join(p.Dir, "apiserver-kubelet-client.crt"), filepath.Join(p.Dir, "apiserver-kubelet-client.key")
	if pair, err := tls.LoadX509KeyPair(crt, key); err == nil {
		if c, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && c.Subject.CommonName == KubeletClientCN &&
			time.Until(c.NotAfter) > 30*24*time.Hour && c.CheckSignatureFrom(p.CACert) == nil {
			return pair, nil
		}
	}
	if err := p.issue(crt, key, pkix.Name{CommonName: KubeletClientCN}, x509.ExtKeyUsageClientAuth, nil, nil); err != nil {
		return tls.Certificate{}, fmt.Errorf("issue the kubelet client certificate in %s: %w", p.Dir, err)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load %s: %w (remove it to have it issued again)", crt, err)
	}
	return pair, nil
}

func covers(pair tls.Certificate, ips []net.IP, names []string) bool {
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(c.NotAfter) < 30*24*time.Hour {
		return false
	}
	for _, ip := range ips {
		found := false
		for _, have := range c.IPAddresses {
			if have.Equal(ip) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// issue signs a certificate with the CA and writes it with its key.
func (p *PKI) issue(crtPath, keyPath string, subj pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, names []string) error {
	k, der, err := newKey()
	if err != nil {
		return err
	}
	cder, err := p.Sign(subj, usage, ips, names, k.Public())
	if err != nil {
		return err
	}
	if _, err := writePEM(keyPath, "EC PRIVATE KEY", der, 0o600); err != nil {
		return err
	}
	_, err = writePEM(crtPath, "CERTIFICATE", cder, 0o644)
	return err
}

// Sign issues a one-year certificate for pub signed by the cluster CA.
func (p *PKI) Sign(subj pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, names []string, pub crypto.PublicKey) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: subj,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: ips, DNSNames: names,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, p.CACert, pub, p.CAKey)
}

// TLSConfig is the serving configuration: HTTP/2 and HTTP/1.1, client
// certificates verified against the cluster CA when presented.
func (p *PKI) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.CACert)
	return &tls.Config{
		Certificates: []tls.Certificate{p.Server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

// WriteKubeconfig writes an admin kubeconfig for server URL to path.
func (p *PKI) WriteKubeconfig(path, server string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["skiff"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.CAPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.AdminCert, ClientKeyData: p.AdminKey}
	cfg.Contexts["skiff"] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "skiff"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// DefaultSANs returns the names and addresses every server certificate carries.
func DefaultSANs(extra []net.IP, serviceIP net.IP) ([]net.IP, []string) {
	ips := []net.IP{net.ParseIP("127.0.0.1").To4(), serviceIP.To4()}
	for _, ip := range extra {
		if ip.IsUnspecified() {
			continue
		}
		dup := false
		for _, h := range ips {
			if h.Equal(ip) {
				dup = true
			}
		}
		if !dup {
			ips = append(ips, ip)
		}
	}
	names := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	return ips, names
}
