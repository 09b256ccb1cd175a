package staticpods

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// manifest is one file's state.
type manifest struct {
	path string
	sum  [32]byte // of the raw bytes: the file is parsed again only when they change
	pod  *v1.Pod  // the file's last good pod; nil while it never parsed
	hash string   // podHash of pod
	// lastErr is the last API error logged for this file (logged once);
	// retryAt holds off create attempts after a failure until the next read.
	lastErr string
	retryAt time.Time
}

type syncer struct {
	cfg      Config
	log      *slog.Logger
	store    cache.Store
	files    map[string]*manifest // by path
	deleting map[types.UID]bool   // mirror pods we asked to delete
	dirState string               // last logged problem with the directory
}

// scan reads the directory and updates s.files. When the directory cannot
// be read, s.files stays as it was, so nothing is deleted for it.
func (s *syncer) scan() {
	ents, err := os.ReadDir(s.cfg.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.dirProblem("static pod directory does not exist; create it and put Pod manifests in it", nil)
		ents = nil
	case err != nil:
		s.dirProblem("cannot read the static pod directory; check that it is a readable directory", err)
		return
	default:
		s.dirProblem("", nil)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		if !isManifest(e.Name()) {
			continue
		}
		path := filepath.Join(s.cfg.Dir, e.Name())
		fi, err := os.Stat(path) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if m := s.files[path]; m != nil {
				seen[path] = true // keep what runs; try again next read
				if msg := "read: " + err.Error(); m.lastErr != msg {
					m.lastErr = msg
					s.log.Error("cannot read static pod manifest; keeping its pod as it was", "file", path, "err", err)
				}
			}
			continue
		}
		seen[path] = true
		sum := sha256.Sum256(data)
		m := s.files[path]
		if m != nil && m.sum == sum {
			continue
		}
		if m == nil {
			m = &manifest{path: path}
			s.files[path] = m
		}
		m.sum = sum
		pod, err := parsePod(data)
		if err == nil {
			err = checkName(pod, s.cfg.NodeName)
		}
		if err != nil {
			if m.pod != nil {
				s.log.Error("static pod manifest skipped; its last good version keeps running until the file is fixed or removed", "file", path, "err", err)
			} else {
				s.log.Error("static pod manifest skipped", "file", path, "err", err)
			}
			continue
		}
		m.pod, m.hash, m.lastErr, m.retryAt = pod, podHash(pod, data), "", time.Time{}
		s.log.Info("static pod manifest read", "file", path, "pod", namespaceOf(pod)+"/"+mirrorName(pod, s.cfg.NodeName), "hash", m.hash)
	}
	for path := range s.files {
		if !seen[path] {
			delete(s.files, path)
			s.log.Info("static pod manifest removed", "file", path)
		}
	}
}

func (s *syncer) dirProblem(msg string, err error) {
	state := msg
	if err != nil {
		state += err.Error()
	}
	if state == s.dirState {
		return
	}
	s.dirState = state
	switch {
	case msg == "":
	case err != nil:
		s.log.Error(msg, "err", err)
	default:
		s.log.Info(msg)
	}
}

// reconcile makes the mirror pods in the API match s.files. Creates that
// failed are retried only when retry is set (each directory read), so pod
// events do not hammer the API server with a refused create.
func (s *syncer) reconcile(ctx context.Context, retry bool) {
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	want := map[string]*manifest{}
	for _, path := range paths {
		m := s.files[path]
		if m.pod == nil {
			continue
		}
		key := namespaceOf(m.pod) + "/" + mirrorName(m.pod, s.cfg.NodeName)
		if first, dup := want[key]; dup {
			s.fail(m, fmt.Errorf("defines the same pod %s as %s; rename the pod in one of them", key, first.path))
			continue
		}
		want[key] = m
	}
	have := mirrorsOf(s.store, s.cfg.NodeName)
	for uid := range s.deleting {
		found := false
		for _, p := range have {
			found = found || p.UID == uid
		}
		if !found {
			delete(s.deleting, uid)
		}
	}
	for key, p := range have {
		if p.DeletionTimestamp != nil {
			continue // on its way out; a replacement is created once it is gone
		}
		switch m := want[key]; {
		case m == nil:
			s.delete(ctx, p, "its manifest is gone")
		case !s.current(p, m):
			s.delete(ctx, p, "its manifest changed")
		}
	}
	now := time.Now()
	for key, m := range want {
		if have[key] != nil || (!retry && now.Before(m.retryAt)) {
			continue
		}
		s.create(ctx, m)
	}
}

// current says whether mirror pod p was made from m's present content for
// this Node.
func (s *syncer) current(p *v1.Pod, m *manifest) bool {
	if p.Annotations[AnnotationHash] != m.hash || p.Annotations[AnnotationMirror] != m.hash {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "Node" && o.Name == s.cfg.NodeName && o.UID == s.cfg.NodeUID {
			return true
		}
	}
	return false
}

func (s *syncer) delete(ctx context.Context, p *v1.Pod, why string) {
	if s.deleting[p.UID] {
		return
	}
	uid := p.UID
	// No grace period given: the pod's own terminationGracePeriodSeconds
	// applies, and the kubelet finishes the deletion.
	err := s.cfg.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case err == nil:
		s.deleting[uid] = true
		s.log.Info("deleting mirror pod", "pod", p.Namespace+"/"+p.Name, "why", why)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// already gone, or replaced by someone: the informer brings the news
	default:
		s.log.Error("cannot delete mirror pod; retrying", "pod", p.Namespace+"/"+p.Name, "why", why, "err", err)
	}
}

func (s *syncer) create(ctx context.Context, m *manifest) {
	pod := mirrorPod(m.pod, s.cfg.NodeName, s.cfg.NodeUID, m.hash)
	_, err := s.cfg.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, gerr := s.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case gerr != nil:
			err = fmt.Errorf("%w (and reading it back: %v)", err, gerr)
		case got.Spec.NodeName == s.cfg.NodeName && isMirror(got):
			return // ours; the informer has not shown it yet
		default:
			err = fmt.Errorf("pod %s/%s already exists and is not a mirror pod of this node: delete it or rename the static pod", pod.Namespace, pod.Name)
		}
	}
	if err != nil {
		s.fail(m, err)
		return
	}
	if m.lastErr != "" {
		s.log.Info("static pod problem resolved", "file", m.path)
	}
	m.lastErr, m.retryAt = "", time.Time{}
	s.log.Info("mirror pod created", "file", m.path, "pod", pod.Namespace+"/"+pod.Name, "hash", m.hash)
}

// fail logs err for m once (until it changes) and holds off retries until
// the next directory read.
func (s *syncer) fail(m *manifest, err error) {
	m.retryAt = time.Now().Add(s.cfg.Interval)
	if msg := err.Error(); msg != m.lastErr {
		m.lastErr = msg
		hint := "fix the file; retried on every directory read"
		if apierrors.IsNotFound(err) {
			hint = "create the pod's namespace; retried on every directory read"
		}
		s.log.Error("static pod not created", "file", m.path, "err", err, "next", hint)
	}
}
