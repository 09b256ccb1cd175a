package containerd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/remotes/docker"

	"github.com/skiffnet/skiff/internal/ociimage"
	"github.com/skiffnet/skiff/node/containerd/registrytest"
)

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                     "docker.io/library/nginx:latest",
		"nginx:1.25":                "docker.io/library/nginx:1.25",
		"skiff/testapp:v1":          "docker.io/skiff/testapp:v1",
		"docker.io/skiff/testapp":   "docker.io/skiff/testapp:latest",
		"127.0.0.1:5000/skiff/app":  "127.0.0.1:5000/skiff/app:latest",
		"localhost:5000/app:v2":     "localhost:5000/app:v2",
		"registry.k8s.io/pause:3.9": "registry.k8s.io/pause:3.9",
		"nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000": "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
	} {
		if got, err := NormalizeRef(in); err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Skiff/App", "a b", "nginx:", "http://reg/x"} {
		if got, err := NormalizeRef(bad); err == nil {
			t.Errorf("NormalizeRef(%q) = %q, want an error", bad, got)
		}
	}
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRegistryConfig(t *testing.T) {
	cfg, err := LoadRegistryConfig(writeFile(t, "reg.yaml", `
insecure: ["10.0.0.5:5000"]
registries:
  reg.example:5000:
    username: u
    password: p
  index.docker.io:
    mirrors: ["http://10.0.0.5:5000", "https://mirror.example/hub"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.plainHTTP("10.0.0.5:5000") || cfg.plainHTTP("reg.example:5000") || !cfg.plainHTTP("localhost:5000") ||
		!cfg.plainHTTP("127.0.0.1:41234") || cfg.plainHTTP("10.0.0.5:5001") {
		t.Error("plain HTTP decisions wrong")
	}
	if got := cfg.InsecureHosts(); len(got) != 1 || got[0] != "10.0.0.5:5000" {
		t.Errorf("InsecureHosts = %v", got)
	}
	hosts, err := cfg.registryHosts(nil, &clientCache{})("docker.io")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hosts {
		got = append(got, h.Scheme+"://"+h.Host+h.Path)
	}
	want := "http://10.0.0.5:5000/v2 https://mirror.example/hub/v2 https://registry-1.docker.io/v2"
	if strings.Join(got, " ") != want {
		t.Errorf("docker.io endpoints = %v, want %s", got, want)
	}
	if hosts[0].Capabilities.Has(docker.HostCapabilityPush) || !hosts[2].Capabilities.Has(docker.HostCapabilityPush) {
		t.Error("mirrors must be pull-only, the registry itself pushable")
	}

	for name, bad := range map[string]string{
		"unknown field": "insecur: [x]\n",
		"scheme":        "insecure: [\"http://x:5000\"]\n",
		"bad mirror":    "registries:\n  r.example:\n    mirrors: [\"ftp://m\"]\n",
		"missing CA":    "registries:\n  r.example:\n    caFile: /nonexistent/ca.pem\n",
		"not yaml":      "registries: [",
	} {
		if _, err := LoadRegistryConfig(writeFile(t, "bad.yaml", bad)); err == nil {
			t.Errorf("%s: config accepted", name)
		}
	}
	if _, err := LoadRegistryConfig("/nonexistent/reg.yaml"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestParseDockerConfig(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("bob:pa:ss"))
	js := fmt.Sprintf(`{"auths": {
		"https://index.docker.io/v1/": {"auth": %q},
		"reg.example:5000": {"username": "alice", "password": "pw"},
		"http://tok.example/v2/": {"identitytoken": "tkn"},
		"*.corp.example": {"username": "c", "password": "d"},
		"empty.example": {}
	}}`, b64)
	creds, err := ParseDockerConfig([]byte(js), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 4 {
		t.Fatalf("creds = %+v", creds)
	}
	for host, want := range map[string]string{
		"registry-1.docker.io": "bob/pa:ss", "docker.io": "bob/pa:ss",
		"reg.example:5000": "alice/pw", "tok.example": "/tkn", "a.corp.example": "c/d",
		"reg.example": "", "corp.example": "",
	} {
		u, s, ok := lookupCredential(creds, nil, host)
		got := ""
		if ok {
			got = u + "/" + s
		}
		if got != want {
			t.Errorf("credential for %s = %q, want %q", host, got, want)
		}
	}
	// The registry config's login is the fallback.
	cfg := &RegistryConfig{Registries: map[string]RegistryHostConfig{"reg.example": {Username: "x", Password: "y"}}}
	if u, s, ok := lookupCredential(creds, cfg, "reg.example"); !ok || u != "x" || s != "y" {
		t.Errorf("fallback credential = %s %s %v", u, s, ok)
	}
	legacy, err := ParseDockerConfig([]byte(`{"reg.example": {"auth": "`+b64+`"}}`), true)
	if err != nil || len(legacy) != 1 || legacy[0].Username != "bob" {
		t.Errorf("legacy .dockercfg: %+v %v", legacy, err)
	}
	for _, bad := range []string{`{"auths": 3}`, `{"auths": {"r": {"auth": "!!!"}}}`, `{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}`} {
		if _, err := ParseDockerConfig([]byte(bad), false); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// tinyImage is a one-file image archive named docker.io/skiff/tiny:v1.
func tinyImage(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := ociimage.Write(&buf, ociimage.Image{
		Name:   "docker.io/skiff/tiny:v1",
		Layers: [][]ociimage.Entry{{{Path: "hello.txt", Data: []byte("hello\n")}}},
		Config: ociimage.Config{Cmd: []string{"/hello.txt"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestResolveFromRealRegistry resolves through the puller's hosts and
// authorizer against a real registry and checks how failures are told.
func TestResolveFromRealRegistry(t *testing.T) {
	reg := registrytest.Start(t, registrytest.WithBasicAuth("puller", "s3cret"))
	if err := reg.Push(tinyImage(t), map[string]string{"docker.io/skiff/tiny:v1": "skiff/tiny:v1"}); err != nil {
		t.Fatal(err)
	}
	cfg := &RegistryConfig{}
	cache := &clientCache{}
	resolve := func(ref string, creds []Credential) error {
		auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(h string) (string, string, error) {
			u, s, _ := lookupCredential(creds, cfg, h)
			return u, s, nil
		}))
		r := docker.NewResolver(docker.ResolverOptions{Hosts: cfg.registryHosts(auth, cache)})
		_, desc, err := r.Resolve(context.Background(), ref)
		if err == nil && desc.Size == 0 {
			return errors.New("empty descriptor")
		}
		return err
	}
	good := []Credential{{Registry: reg.Host, Username: "puller", Secret: "s3cret"}}
	ref := reg.Host + "/skiff/tiny:v1"
	if err := resolve(ref, good); err != nil {
		t.Fatalf("resolve with credentials: %v", err)
	}
	for _, tc := range []struct {
		ref   string
		creds []Credential
		kind  PullErrorKind
		hint  string
	}{
		{ref, nil, PullUnauthorized, "imagePullSecrets"},
		{ref, []Credential{{Registry: reg.Host, Username: "puller", Secret: "wrong"}}, PullUnauthorized, "docker-registry"},
		{reg.Host + "/skiff/tiny:nope", good, PullNotFound, "skiff image import"},
	} {
		err := resolve(tc.ref, tc.creds)
		if err == nil {
			t.Errorf("%s creds=%v resolved", tc.ref, tc.creds)
			continue
		}
		pe := classifyPullError(tc.ref, reg.Host, "http", err)
		if pe.Kind != tc.kind || !strings.Contains(pe.Error(), tc.hint) {
			t.Errorf("%s: kind %s (%v), want %s with hint %q", tc.ref, pe.Kind, pe, tc.kind, tc.hint)
		}
	}
	// The same host under Basic auth the registry config supplies.
	cfg = &RegistryConfig{Registries: map[string]RegistryHostConfig{reg.Host: {Username: "puller", Password: "s3cret"}}}
	if err := resolve(ref, nil); err != nil {
		t.Errorf("resolve with registry-config login: %v", err)
	}
	reg.Close()
	err := resolve(ref, good)
	if pe := classifyPullError(ref, reg.Host, "http", err); err == nil || pe.Kind != PullUnreachable ||
		!strings.Contains(pe.Error(), "no registry reachable") || !strings.Contains(pe.Error(), "skiff image import FILE.tar") {
		t.Errorf("closed registry: %v", pe)
	}
}

func TestPullErrorHints(t *testing.T) {
	// An HTTPS request to a plain-HTTP registry fails with this error from net/http.
	mismatch := classifyPullError("r.example:5000/a:v1", "r.example:5000", "https",
		fmt.Errorf("failed to do request: %w", errors.New("http: server gave HTTP response to HTTPS client")))
	if mismatch.Kind != PullHTTPMismatch || !strings.Contains(mismatch.Error(), "--insecure-registry r.example:5000") {
		t.Errorf("mismatch: %v", mismatch)
	}
	canceled := classifyPullError("a", "r", "https", context.Canceled)
	if canceled.Kind != PullCanceled {
		t.Errorf("canceled: %v", canceled)
	}
	other := classifyPullError("a", "r", "https", errors.New("boom"))
	if other.Kind != PullFailed || !strings.Contains(other.Error(), "skiff image import") {
		t.Errorf("other: %v", other)
	}
}

func TestRegistryFlags(t *testing.T) {
	var f RegistryFlags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	file := writeFile(t, "reg.yaml", "insecure: [\"a.example:5000\"]\n")
	if err := fs.Parse([]string{"--registry-config", file, "--insecure-registry", "b.example:5000", "--insecure-registry", "c.example, d.example:1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.InsecureHosts(), " "); got != "a.example:5000 b.example:5000 c.example d.example:1" {
		t.Errorf("insecure hosts %q", got)
	}
	if err := fs.Parse([]string{"--insecure-registry", "http://x:5000"}); err == nil {
		t.Error("--insecure-registry with a scheme accepted")
	}
	f = RegistryFlags{ConfigFile: "/nonexistent.yaml"}
	if _, err := f.Load(); err == nil {
		t.Error("missing --registry-config file accepted")
	}
}
