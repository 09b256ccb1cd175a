package registrytest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Registry is a running test registry.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string

	srv        *httptest.Server
	user, pass string
	stall      atomic.Bool // blob downloads stop after 64 KiB
	mu         sync.Mutex
	manifests  map[string]int // manifest GET/HEAD requests served, by "repo:ref"
}

// Option configures Start.
type Option func(*Registry)

// WithBasicAuth makes the registry demand HTTP Basic credentials.
func WithBasicAuth(user, pass string) Option {
	return func(r *Registry) { r.user, r.pass = user, pass }
}

// Start runs a registry on a loopback port until the test ends.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{manifests: map[string]int{}}
	for _, o := range opts {
		o(r)
	}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="skiff-test"`)
				w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if repo, ref, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/"); ok &&
			(req.Method == http.MethodGet || req.Method == http.MethodHead) {
			r.mu.Lock()
			r.manifests[repo+":"+ref]++
			r.mu.Unlock()
		}
		if r.stall.Load() && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			w = &stallWriter{ResponseWriter: w, left: 64 << 10, done: req.Context().Done()}
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.URL = r.srv.URL
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// ManifestRequests counts the authorised manifest GETs and HEADs served so
// far for repoRef ("skiff/testapp:v1").
func (r *Registry) ManifestRequests(repoRef string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifests[repoRef]
}

// StallBlobs makes blob downloads (from now on) stop sending after 64 KiB
// and hang until the client gives up, like a registry behind a dead link.
func (r *Registry) StallBlobs(on bool) { r.stall.Store(on) }

type stallWriter struct {
	http.ResponseWriter
	left int
	done <-chan struct{}
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if len(p) <= s.left {
		n, err := s.ResponseWriter.Write(p)
		s.left -= n
		return n, err
	}
	n, err := s.ResponseWriter.Write(p[:s.left])
	s.left = 0
	if err != nil {
		return n, err
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	<-s.done // hang until the client gives up
	return n, fmt.Errorf("client gave up")
}

// Close stops the registry: later pulls find nothing listening.
func (r *Registry) Close() { r.srv.Close() }

// Push uploads the images of an OCI layout tarball. names maps the image
// name in the archive (annotation io.containerd.image.name, e.g.
// "docker.io/skiff/testapp:v1") to "repo:tag" in this registry (e.g.
// "skiff/testapp:v1").
func (r *Registry) Push(archive []byte, names map[string]string) error {
	blobs := map[string][]byte{}
	var index ocispec.Index
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		switch {
		case h.Name == "index.json":
			if err := json.Unmarshal(data, &index); err != nil {
				return fmt.Errorf("index.json: %w", err)
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = data
		}
	}
	pushed := 0
	for _, m := range index.Manifests {
		dst, ok := names[m.Annotations["io.containerd.image.name"]]
		if !ok {
			continue
		}
		repo, tag, ok := strings.Cut(dst, ":")
		if !ok {
			return fmt.Errorf("push target %q: want repo:tag", dst)
		}
		raw := blobs[m.Digest.String()]
		var mf ocispec.Manifest
		if err := json.Unmarshal(raw, &mf); err != nil {
			return fmt.Errorf("manifest %s: %w", m.Digest, err)
		}
		for _, d := range append([]ocispec.Descriptor{mf.Config}, mf.Layers...) {
			data, ok := blobs[d.Digest.String()]
			if !ok {
				return fmt.Errorf("archive lacks blob %s", d.Digest)
			}
			if err := r.pushBlob(repo, d.Digest.String(), data); err != nil {
				return err
			}
		}
		req, _ := http.NewRequest(http.MethodPut, r.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(raw))
		req.Header.Set("Content-Type", m.MediaType)
		if err := r.do(req, http.StatusCreated); err != nil {
			return fmt.Errorf("put manifest %s:%s: %w", repo, tag, err)
		}
		pushed++
	}
	if pushed != len(names) {
		return fmt.Errorf("pushed %d of %d images; archive names: %v", pushed, len(names), imageNames(index))
	}
	return nil
}

func imageNames(idx ocispec.Index) []string {
	var out []string
	for _, m := range idx.Manifests {
		out = append(out, m.Annotations["io.containerd.image.name"])
	}
	return out
}

// pushBlob uploads one blob: POST an upload session, then PUT the data.
func (r *Registry) pushBlob(repo, dgst string, data []byte) error {
	req, _ := http.NewRequest(http.MethodPost, r.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	r.auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload of %s: %s", dgst, resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = r.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ = http.NewRequest(http.MethodPut, loc+sep+"digest="+dgst, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	if err := r.do(req, http.StatusCreated); err != nil {
		return fmt.Errorf("upload %s: %w", dgst, err)
	}
	return nil
}

func (r *Registry) auth(req *http.Request) {
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
}

func (r *Registry) do(req *http.Request, want int) error {
	r.auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}
