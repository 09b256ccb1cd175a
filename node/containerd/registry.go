package containerd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/remotes/docker"
	"sigs.k8s.io/yaml"
)

// RegistryConfig says how the agent reaches image registries. The zero
// value pulls over HTTPS from every registry except loopback ones
// (localhost, 127.0.0.1, ::1), which are reached over plain HTTP.
//
// As a file (`skiff agent --registry-config FILE`, YAML or JSON):
//
//	insecure: ["10.0.0.5:5000"]          # plain HTTP, like --insecure-registry
//	registries:
//	  registry.example:5000:
//	    caFile: /etc/skiff/registry-ca.pem
//	    username: puller
//	    password: s3cret
//	  docker.io:
//	    mirrors: ["http://10.0.0.5:5000"]  # tried in order before the registry
type RegistryConfig struct {
	// Insecure lists registry hosts ("host" or "host:port") reached over
	// plain HTTP instead of HTTPS.
	Insecure []string `json:"insecure,omitempty"`
	// Registries holds per-registry settings keyed by host[:port]; docker.io
	// stands for Docker Hub.
	Registries map[string]RegistryHostConfig `json:"registries,omitempty"`
}

// RegistryHostConfig is the configuration of one registry host.
type RegistryHostConfig struct {
	// PlainHTTP talks HTTP instead of HTTPS.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// SkipTLSVerify accepts any certificate the registry presents.
	SkipTLSVerify bool `json:"skipTLSVerify,omitempty"`
	// CAFile is a PEM bundle of extra CAs trusted for this registry.
	CAFile string `json:"caFile,omitempty"`
	// Username and Password are used when a pod's imagePullSecrets give no
	// credentials for this registry.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Mirrors are endpoints ("http://host:port" or "https://host[/prefix]")
	// tried in order for pulls before the registry itself.
	Mirrors []string `json:"mirrors,omitempty"`
}

// LoadRegistryConfig reads a registry config file (YAML or JSON) and checks it.
func LoadRegistryConfig(path string) (*RegistryConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	var cfg RegistryConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("registry config %s: %w (see `insecure:` and `registries:` in node/containerd RegistryConfig)", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	return &cfg, nil
}

// Validate checks host names, mirror URLs and CA files.
func (c *RegistryConfig) Validate() error {
	for _, h := range c.Insecure {
		if err := checkRegistryHost(h); err != nil {
			return fmt.Errorf("insecure registry %q: %w", h, err)
		}
	}
	for h, hc := range c.Registries {
		if err := checkRegistryHost(h); err != nil {
			return fmt.Errorf("registry %q: %w", h, err)
		}
		for _, m := range hc.Mirrors {
			u, err := url.Parse(m)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("registry %q: mirror %q is not an http:// or https:// URL", h, m)
			}
		}
		if hc.CAFile != "" {
			if _, err := loadCAs(hc.CAFile); err != nil {
				return fmt.Errorf("registry %q: %w", h, err)
			}
		}
	}
	return nil
}

func checkRegistryHost(h string) error {
	switch {
	case h == "":
		return fmt.Errorf("empty host")
	case strings.Contains(h, "://"):
		return fmt.Errorf("give host[:port] without a scheme")
	case strings.ContainsAny(h, "/ \t"):
		return fmt.Errorf("give host[:port] without a path")
	}
	return nil
}

// canonicalHost maps Docker Hub's aliases to docker.io.
func canonicalHost(h string) string {
	switch h = strings.ToLower(h); h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// hostConfig returns the settings for host (canonicalised).
func (c *RegistryConfig) hostConfig(host string) RegistryHostConfig {
	if c == nil {
		return RegistryHostConfig{}
	}
	host = canonicalHost(host)
	hc := RegistryHostConfig{}
	for h, v := range c.Registries {
		if canonicalHost(h) == host {
			hc = v
		}
	}
	for _, h := range c.Insecure {
		if canonicalHost(h) == host {
			hc.PlainHTTP = true
		}
	}
	return hc
}

// plainHTTP reports whether host is reached over HTTP: configured so, or a
// loopback registry.
func (c *RegistryConfig) plainHTTP(host string) bool {
	if c.hostConfig(host).PlainHTTP {
		return true
	}
	local, _ := docker.MatchLocalhost(host)
	return local
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// httpClient builds the client for one registry host.
func httpClient(hc RegistryHostConfig) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if hc.SkipTLSVerify {
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	if hc.CAFile != "" {
		pool, err := loadCAs(hc.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}

// clientCache shares one HTTP client (and its connection pool) per TLS
// setting across pulls.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*http.Client
}

func (cc *clientCache) get(hc RegistryHostConfig) (*http.Client, error) {
	key := fmt.Sprintf("%s\x00%v", hc.CAFile, hc.SkipTLSVerify)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c, ok := cc.clients[key]; ok {
		return c, nil
	}
	c, err := httpClient(hc)
	if err != nil {
		return nil, err
	}
	if cc.clients == nil {
		cc.clients = map[string]*http.Client{}
	}
	cc.clients[key] = c
	return c, nil
}

// registryHosts returns the endpoints the resolver tries for host: the
// configured mirrors, then the registry itself. auth authorises requests;
// clients come from cc.
func (c *RegistryConfig) registryHosts(auth docker.Authorizer, cc *clientCache) docker.RegistryHosts {
	return func(host string) ([]docker.RegistryHost, error) {
		hc := c.hostConfig(host)
		client, err := cc.get(hc)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", host, err)
		}
		var out []docker.RegistryHost
		for _, m := range hc.Mirrors {
			u, err := url.Parse(m)
			if err != nil {
				return nil, fmt.Errorf("registry %s: mirror %q: %w", host, m, err)
			}
			mc, err := cc.get(c.hostConfig(u.Host))
			if err != nil {
				return nil, fmt.Errorf("registry %s: mirror %s: %w", host, u.Host, err)
			}
			out = append(out, docker.RegistryHost{
				Client: mc, Authorizer: auth, Host: u.Host, Scheme: u.Scheme,
				Path:         strings.TrimSuffix(u.Path, "/") + "/v2",
				Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
			})
		}
		scheme := "https"
		if c.plainHTTP(host) {
			scheme = "http"
		}
		endpoint := host
		if canonicalHost(host) == "docker.io" {
			endpoint = "registry-1.docker.io"
		}
		out = append(out, docker.RegistryHost{
			Client: client, Authorizer: auth, Host: endpoint, Scheme: scheme, Path: "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve | docker.HostCapabilityPush,
		})
		return out, nil
	}
}

// InsecureHosts lists every host reached over plain HTTP by configuration
// (loopback registries always are), sorted, for logging.
func (c *RegistryConfig) InsecureHosts() []string {
	if c == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, h := range c.Insecure {
		seen[canonicalHost(h)] = true
	}
	for h, hc := range c.Registries {
		if hc.PlainHTTP {
			seen[canonicalHost(h)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for h := range seen {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
