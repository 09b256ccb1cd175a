package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullerOptions configures NewPuller.
type PullerOptions struct {
	// Namespace is the containerd namespace images go to; default the
	// client's default namespace (the agent's is "skiff").
	Namespace string
	// Snapshotter pulled images are unpacked into; default overlayfs (the
	// kubelet's Config.Snapshotter must match).
	Snapshotter string
	// Platform pulled, e.g. "linux/amd64"; default the machine's.
	Platform string
	// Registries says how to reach registries; nil means HTTPS everywhere
	// except loopback registries, which use plain HTTP.
	Registries *RegistryConfig
	// ProgressInterval is how often a running pull logs its progress;
	// default 5 s.
	ProgressInterval time.Duration
	// StallTimeout aborts a pull whose layer downloads make no progress
	// for this long; default 5 min (containerd CRI's pull progress timeout).
	// Progress is seen in steps of containerd's 1 MiB copy buffer.
	StallTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Puller pulls images from registries into containerd and unpacks them.
// Concurrent pulls of the same reference with the same credentials share
// one download.
type Puller struct {
	client *ctrd.Client
	opts   PullerOptions
	plat   platforms.MatchComparer
	log    *slog.Logger

	clients clientCache

	mu      sync.Mutex
	flights map[string]*flight
}

// errStalled cancels a pull that stopped making progress.
var errStalled = errors.New("download made no progress")

type flight struct {
	done chan struct{}
	img  ctrd.Image
	err  error
}

// NewPuller checks opts and returns a Puller using client.
func NewPuller(client *ctrd.Client, opts PullerOptions) (*Puller, error) {
	if client == nil {
		return nil, fmt.Errorf("puller: containerd client is required")
	}
	if opts.Snapshotter == "" {
		opts.Snapshotter = DefaultSnapshotter
	}
	if opts.Platform == "" {
		opts.Platform = platforms.DefaultString()
	}
	spec, err := platforms.Parse(opts.Platform)
	if err != nil {
		return nil, fmt.Errorf("puller: platform %q: %w (use os/arch such as linux/amd64)", opts.Platform, err)
	}
	if opts.Registries == nil {
		opts.Registries = &RegistryConfig{}
	}
	if err := opts.Registries.Validate(); err != nil {
		return nil, fmt.Errorf("puller: %w", err)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 5 * time.Second
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Puller{
		client:  client,
		opts:    opts,
		plat:    platforms.Only(spec),
		log:     opts.Logger.With("component", "image-puller"),
		flights: map[string]*flight{},
	}, nil
}

// Snapshotter is the snapshotter pulled images are unpacked into.
func (p *Puller) Snapshotter() string { return p.opts.Snapshotter }

// NormalizeRef expands an image name as Kubernetes and containerd do:
// "nginx" is docker.io/library/nginx:latest, "skiff/testapp:v1" is
// docker.io/skiff/testapp:v1; digests are kept.
func NormalizeRef(name string) (string, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(name))
	if err != nil {
		return "", fmt.Errorf("invalid image name %q: %w", name, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// Pull fetches ref (normalised first) for the puller's platform, stores it
// under its normalised name and unpacks it. creds come first (a pod's
// imagePullSecrets), then the registry config's username and password.
// Errors are *PullError, saying what went wrong and what to do.
func (p *Puller) Pull(ctx context.Context, ref string, creds []Credential) (ctrd.Image, error) {
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, &PullError{Ref: ref, Kind: PullInvalidName, Err: err}
	}
	key := name + "\x00" + credKey(creds)
	for {
		p.mu.Lock()
		f, ok := p.flights[key]
		if !ok {
			break // p.mu stays locked for the new flight
		}
		p.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, &PullError{Ref: name, Kind: PullCanceled, Err: ctx.Err()}
		}
		var pe *PullError
		if errors.As(f.err, &pe) && pe.Kind == PullCanceled && ctx.Err() == nil {
			continue // the caller who ran it gave up; we did not
		}
		return f.img, f.err
	}
	f := &flight{done: make(chan struct{})}
	p.flights[key] = f
	p.mu.Unlock()

	f.img, f.err = p.pull(ctx, name, creds)
	p.mu.Lock()
	delete(p.flights, key)
	p.mu.Unlock()
	close(f.done)
	return f.img, f.err
}

func credKey(creds []Credential) string {
	h := sha256.New()
	for _, c := range creds {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", c.Registry, c.Username, c.Secret)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (p *Puller) pull(ctx context.Context, name string, creds []Credential) (ctrd.Image, error) {
	if p.opts.Namespace != "" {
		ctx = namespaces.WithNamespace(ctx, p.opts.Namespace)
	}
	named, _ := reference.ParseNormalizedNamed(name)
	host := reference.Domain(named)
	log := p.log.With("image", name)

	auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(h string) (string, string, error) {
		user, secret, _ := lookupCredential(creds, p.opts.Registries, h)
		return user, secret, nil
	}))
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: p.opts.Registries.registryHosts(auth, &p.clients)})

	prog := &progress{}
	handler := images.HandlerFunc(func(_ context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsLayerType(desc.MediaType) {
			prog.addLayer(desc)
		}
		return nil, nil
	})
	scheme := "https"
	if p.opts.Registries.plainHTTP(host) {
		scheme = "http"
	}
	log.Info("pulling image", "registry", host, "scheme", scheme, "platform", p.opts.Platform, "snapshotter", p.opts.Snapshotter)
	start := time.Now()
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(min(p.opts.ProgressInterval, p.opts.StallTimeout/4))
		defer t.Stop()
		var lastDone int64
		lastLog, lastMove := start, start
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			layers, done, total := prog.measure(pctx, p.client.ContentStore())
			now := time.Now()
			if done != lastDone || done >= total {
				lastDone, lastMove = done, now
			}
			if now.Sub(lastMove) >= p.opts.StallTimeout {
				cancel(fmt.Errorf("%w for %v at %d of %d bytes", errStalled, p.opts.StallTimeout, done, total))
				return
			}
			if now.Sub(lastLog) >= p.opts.ProgressInterval {
				lastLog = now
				log.Info("pull progress", "layers", layers, "bytes", done, "total-bytes", total, "elapsed", now.Sub(start).Round(time.Second))
			}
		}
	}()
	img, err := p.client.Pull(pctx, name,
		ctrd.WithResolver(resolver),
		ctrd.WithPlatformMatcher(p.plat),
		ctrd.WithPullUnpack,
		ctrd.WithPullSnapshotter(p.opts.Snapshotter),
		ctrd.WithImageHandler(handler),
		ctrd.WithMaxConcurrentDownloads(3),
	)
	close(stop)
	wg.Wait()
	if cause := context.Cause(pctx); err != nil && errors.Is(cause, errStalled) {
		err = cause
	}
	if err != nil {
		perr := classifyPullError(name, host, scheme, err)
		log.Warn("image pull failed", "err", perr, "after", time.Since(start).Round(time.Millisecond))
		return nil, perr
	}
	// Layers already present (or already unpacked) are not fetched and so
	// not counted.
	layers, _, fetched := prog.measure(ctx, p.client.ContentStore())
	size, _ := img.Size(ctx)
	log.Info("pulled image", "digest", img.Target().Digest, "size", size, "layers-fetched", layers, "bytes-fetched", fetched,
		"took", time.Since(start).Round(time.Millisecond))
	return img, nil
}

// progress tracks the layers of one pull.
type progress struct {
	mu     sync.Mutex
	layers []ocispec.Descriptor
}

func (pr *progress) addLayer(d ocispec.Descriptor) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, l := range pr.layers {
		if l.Digest == d.Digest {
			return
		}
	}
	pr.layers = append(pr.layers, d)
}

// measure returns the layer count, bytes present (complete layers plus
// running downloads) and total layer bytes.
func (pr *progress) measure(ctx context.Context, cs content.Store) (n int, done, total int64) {
	pr.mu.Lock()
	layers := append([]ocispec.Descriptor(nil), pr.layers...)
	pr.mu.Unlock()
	active := map[string]int64{}
	if sts, err := cs.ListStatuses(ctx); err == nil {
		for _, st := range sts {
			if i := strings.LastIndex(st.Ref, "sha256:"); i >= 0 {
				active[st.Ref[i:]] = st.Offset
			}
		}
	}
	for _, l := range layers {
		total += l.Size
		if _, err := cs.Info(ctx, l.Digest); err == nil {
			done += l.Size
		} else {
			done += active[l.Digest.String()]
		}
	}
	return len(layers), done, total
}
